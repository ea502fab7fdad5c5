// One blocking HTTP exchange on a libcurl easy handle, for the credential sources (STS and
// the instance metadata services). They run on a provider's refresh thread (or once at
// startup), never on an event loop, so blocking is what they want; timeouts are short so an
// unreachable service fails fast instead of hanging a command.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace shoal {

struct FetchRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds timeout{10000};  // the whole exchange
  bool verify_tls = true;
  std::string ca_file;  // PEM CAs besides the system's (private clouds)
};

struct FetchResponse {
  int status = 0;
  std::string body;
};

// kNetwork / kTimeout when no answer arrives; any HTTP status is an answer. Messages name the
// method and URL, so a URL must never carry a secret (tokens go in bodies or headers).
Result<FetchResponse> fetch_blocking(const FetchRequest& request);

// "a=1&b=2" with keys and values percent-encoded (RFC 3986 unreserved kept).
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace shoal
