// The writer's log: one line per event on stderr, "<UTC time> shoal-writer <level>: <message>".
// Messages never carry secrets: errors from the store client are already secret-free.
#pragma once

#include <string_view>

namespace shoal {

enum class LogLevel { kInfo, kWarning, kError };

void writer_log(LogLevel level, std::string_view message);

}  // namespace shoal
