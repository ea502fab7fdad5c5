#include "tools/shoal/commands.h"

namespace shoal::cli {

void register_commands(CLI::App& app, int& exit_code) {
  (void)app;
  (void)exit_code;
}

}  // namespace shoal::cli
