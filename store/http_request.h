// An HTTP request as the signers and the HTTP client see it. Path and query hold raw,
// unencoded values; each consumer encodes them by its own rules (SigV4 and OSS differ).
#pragma once

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

  // Case-insensitive lookup; nullptr when absent.
  const std::string* header(std::string_view name) const;
  void set_header(std::string name, std::string value);  // replaces, case-insensitively
};

struct HttpResponse {
  int status = 0;
  HeaderList headers;  // names lower-cased
  std::string body;

  const std::string* header(std::string_view lower_name) const;
};

}  // namespace shoal
