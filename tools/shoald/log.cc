#include "tools/shoald/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace shoal::daemon {

void log_line(std::string_view message) {
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  // One fprintf per line: stderr is unbuffered, so lines from the engine's own logging and
  // ours never interleave mid-line.
  std::fprintf(stderr, "%s.%03dZ shoald[%d]: %.*s\n", stamp, static_cast<int>(millis.count()),
               static_cast<int>(::getpid()), static_cast<int>(message.size()), message.data());
}

}  // namespace shoal::daemon
