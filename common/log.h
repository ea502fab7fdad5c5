// The one log of every shoal program: one line per event on stderr,
//   "2026-05-01T12:34:56.789Z shoald[4242] info: <message>"
// (UTC time with milliseconds, program name and pid, level), so a log written by a
// backgrounded daemon or a writer reads on its own and lines from several programs sharing a
// file can be told apart. Each line is written with a single write(2), so lines from
// different threads never interleave mid-line. Callers never pass secrets: errors from the
// store client are already secret-free.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace shoal {

enum class LogLevel { kInfo, kWarning, kError };

std::string_view to_string(LogLevel level);  // "info", "warning", "error"

// Names the program in every line (default: the executable's name). A program that hosts
// another (`shoal writer run`) renames itself once before logging.
void set_log_program(std::string_view name);

// Writes one line to stderr.
void write_log(LogLevel level, std::string_view message);
inline void log_info(std::string_view message) { write_log(LogLevel::kInfo, message); }
inline void log_warning(std::string_view message) { write_log(LogLevel::kWarning, message); }
inline void log_error(std::string_view message) { write_log(LogLevel::kError, message); }

// The line `write_log` writes, newline included (for tests and for callers that write elsewhere).
std::string format_log_line(std::chrono::system_clock::time_point when, std::string_view program,
                            int pid, LogLevel level, std::string_view message);

}  // namespace shoal
