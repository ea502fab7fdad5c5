#include "tools/shoal/commands.h"

namespace shoal::cli {

void register_commands(CLI::App& app, int& exit_code) {
  register_ls(app, exit_code);
  register_cat(app, exit_code);
  register_put(app, exit_code);
  register_stat(app, exit_code);
  register_index(app, exit_code);
  register_bench(app, exit_code);
  register_writer(app, exit_code);
  register_mount(app, exit_code);
  register_umount(app, exit_code);
  register_stats(app, exit_code);
  register_volumes(app, exit_code);
}

}  // namespace shoal::cli
