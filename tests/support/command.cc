#include "support/command.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>

namespace shoal::test {

CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.output.append(buffer.data(), n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool have_tool(const std::string& name) {
  return run_command("command -v " + name + " >/dev/null").exit_code == 0;
}

}  // namespace shoal::test
