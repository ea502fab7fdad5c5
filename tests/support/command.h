// Running shell commands from tests: the built CLI, mkfs/fsck.erofs, mount, nbd tools.
#pragma once

#include <string>

namespace shoal::test {

struct CommandResult {
  int exit_code = -1;  // -1 when the command could not run or was killed by a signal
  std::string output;  // stdout and stderr together
};

// Runs `command` with /bin/sh and waits for it.
CommandResult run_command(const std::string& command);

// Whether `name` is on PATH.
bool have_tool(const std::string& name);

}  // namespace shoal::test
