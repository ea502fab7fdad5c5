// shoald's log: one line per event on stderr, prefixed with a UTC timestamp and the pid, so a
// log file written by a backgrounded daemon reads on its own. Callers never pass secrets.
#pragma once

#include <string_view>

namespace shoal::daemon {

// "2026-05-01T12:34:56.789Z shoald[4242]: <message>"
void log_line(std::string_view message);

}  // namespace shoal::daemon
