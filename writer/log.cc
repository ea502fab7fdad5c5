#include "writer/log.h"

#include <cstdio>
#include <ctime>
#include <string>

namespace shoal {

void writer_log(LogLevel level, std::string_view message) {
  static constexpr const char* kNames[] = {"info", "WARNING", "ERROR"};
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &utc);
  std::string line = std::string(stamp) + " shoal-writer " + kNames[static_cast<int>(level)] +
                     ": " + std::string(message) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace shoal
