// Text helpers shared by the signing schemes (internal to store/sign).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/http_request.h"

namespace shoal::signing {

std::string to_lower(std::string_view s);
// Without leading and trailing spaces and tabs.
std::string_view trim(std::string_view s);
// Trimmed, with each inner run of spaces and tabs as one space (SigV4 header values).
std::string trim_and_collapse(std::string_view s);

// Headers with lower-cased names, sorted by name (stable: a repeated header keeps the order
// of its values), repeated names merged into one entry with values joined by ','.
using CanonicalHeaderList = std::vector<std::pair<std::string, std::string>>;
CanonicalHeaderList merge_sorted(CanonicalHeaderList headers);

// HMAC-SHA256 chain over the scope parts, starting from key `seed`: the SigV4 and OSS V4
// signing key.
std::string derive_key(std::string seed, const std::vector<std::string_view>& parts);

}  // namespace shoal::signing
