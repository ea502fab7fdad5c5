// An HTTP request as the signers and the HTTP client see it. Path and query hold raw,
// unencoded values; each consumer encodes them by its own rules (SigV4 and OSS differ).
#pragma once

#include <sys/uio.h>

#include <string>
#include <utility>
#include <vector>

#include "store/object_store.h"

namespace shoal {

using HeaderList = std::vector<std::pair<std::string, std::string>>;
using QueryList = std::vector<std::pair<std::string, std::string>>;  // value "" = bare key

struct HttpRequest {
  std::string method = "GET";
  std::string scheme = "https";
  std::string host;       // as sent in the Host header, with ":port" when not default
  std::string path = "/"; // raw, unencoded, starts with '/'
  QueryList query;
  HeaderList headers;
  Body body;
  // Caller memory a 2xx answer's body is written to instead of HttpResponse::body (see
  // HttpResponse::body_in_place); it must stay valid until the request's callback ran. An
  // answer that is not 2xx, or whose body turns out larger than this memory, goes to `body`.
  std::vector<iovec> response_into;

  // Case-insensitive lookup; nullptr when absent.
  const std::string* header(std::string_view name) const;
  void set_header(std::string name, std::string value);  // replaces, case-insensitively
};

struct HttpResponse {
  int status = 0;
  HeaderList headers;  // names lower-cased
  std::string body;    // empty when body_in_place
  // The body is the first body_placed bytes of HttpRequest::response_into.
  bool body_in_place = false;
  uint64_t body_placed = 0;

  uint64_t body_size() const { return body_in_place ? body_placed : body.size(); }

  const std::string* header(std::string_view lower_name) const;
};

}  // namespace shoal
