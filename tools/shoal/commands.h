// Subcommand registration. Each register_* adds one subcommand whose callback stores the
// process exit code in `exit_code` (0 ok, 1 operation failed, 2 usage error).
#pragma once

#include <CLI/CLI.hpp>

namespace shoal::cli {

void register_commands(CLI::App& app, int& exit_code);

}  // namespace shoal::cli
