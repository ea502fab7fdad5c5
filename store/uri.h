// Parsing object-store URIs: oss://bucket/prefix, s3://bucket/prefix, file:///abs/dir.
#pragma once

#include <string_view>

#include "common/result.h"
#include "store/store_config.h"

namespace shoal {

// The prefix is taken verbatim (no percent-decoding, like the aws and ossutil CLIs), so a key
// with a space or '%' is written as is. Errors are kInvalidArgument and name the URI.
Result<ObjectUri> parse_object_uri(std::string_view text);

std::string_view scheme_name(ObjectUri::Scheme scheme);  // "oss", "s3", "file"

}  // namespace shoal
