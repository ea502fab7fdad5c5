// Access keys. Never printed: describe() and operator<< show only a redacted form.
#pragma once

#include <string>

namespace shoal {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // STS; empty when not used

  bool empty() const { return access_key_id.empty(); }
  // "LTAI…(redacted)" style: enough to tell keys apart, never enough to use one.
  std::string redacted() const {
    if (access_key_id.empty()) return "(anonymous)";
    return access_key_id.substr(0, 4) + "…(redacted)";
  }
};

}  // namespace shoal
