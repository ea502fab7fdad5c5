// shoald as a child process: started in a session of its own with its log in a file, waited
// for on its --ready-fd line, and stopped with SIGTERM, then SIGKILL.
//
// The child between fork and exec only calls async-signal-safe functions (everything is
// prepared before the fork), so a multi-threaded caller such as the CSI plugin may use this.
// Blocking; callable from any thread. A daemon that is the caller's child is reaped when it
// stops; one started by another process (an earlier `shoal mount`) is only waited for.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace shoal::mount {

inline constexpr auto kReadyTimeout = std::chrono::seconds(120);
inline constexpr auto kStopTimeout = std::chrono::seconds(15);

// Runs args[0] with `args`, stdin from /dev/null, stdout and stderr appended to `log`, and the
// readiness pipe as fd 3 (args must say --ready-fd 3), then waits for its line. Returns the
// pid once it says "ready". Otherwise the process is gone when this returns and the error
// carries its message ("error …"), or the log's tail if it said nothing; kInvalidArgument
// when it exited with 2 (usage or config), kInternal else.
Result<int64_t> start_daemon(const std::vector<std::string>& args, const std::string& log,
                             std::chrono::milliseconds ready_timeout = kReadyTimeout);

// SIGTERM, and SIGKILL if it is still there after `timeout`; nothing if it is not a live
// shoald (see daemon_alive). Returns once it is gone or the second wait ran out.
void stop_daemon(int64_t pid, std::chrono::milliseconds timeout = kStopTimeout);

// The last `lines` lines of a log, each indented by two spaces.
std::string log_tail(const std::string& log, size_t lines = 10);

}  // namespace shoal::mount
