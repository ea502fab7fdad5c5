#include "common/log.h"

#include <errno.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <mutex>

namespace shoal {
namespace {

std::mutex program_mutex;
std::string& program_name() {
  static std::string name = program_invocation_short_name;  // glibc: argv[0]'s last component
  return name;
}

}  // namespace

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "info";
}

void set_log_program(std::string_view name) {
  std::lock_guard lock(program_mutex);
  program_name() = std::string(name);
}

std::string format_log_line(std::chrono::system_clock::time_point when, std::string_view program,
                            int pid, LogLevel level, std::string_view message) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count() % 1000;
  if (millis < 0) millis += 1000;  // times before 1970 round toward the earlier second
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char stamp[40];
  size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(stamp + n, sizeof stamp - n, ".%03dZ", static_cast<int>(millis));
  std::string line;
  line.reserve(64 + program.size() + message.size());
  line += stamp;
  line += ' ';
  line += program;
  line += '[';
  line += std::to_string(pid);
  line += "] ";
  line += to_string(level);
  line += ": ";
  line += message;
  line += '\n';
  return line;
}

void write_log(LogLevel level, std::string_view message) {
  std::string program;
  {
    std::lock_guard lock(program_mutex);
    program = program_name();
  }
  std::string line = format_log_line(std::chrono::system_clock::now(), program,
                                     static_cast<int>(::getpid()), level, message);
  // One write per line (stderr is unbuffered, but fprintf may still split a long line).
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t w = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (w <= 0) return;  // nowhere to report a failing log
    rest.remove_prefix(static_cast<size_t>(w));
  }
}

}  // namespace shoal
