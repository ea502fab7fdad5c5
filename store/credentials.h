// Access keys. Never printed: redacted() and operator<< show only enough to tell keys apart,
// so a key streamed into a log line by mistake cannot leak.
#pragma once

#include <ostream>
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

  friend std::ostream& operator<<(std::ostream& out, const Credentials& c) {
    return out << c.redacted();
  }
};

}  // namespace shoal
