// shoal: the command-line tool. Each subcommand lives in its own file and registers itself.
#include <CLI/CLI.hpp>

#include "tools/shoal/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"shoal: mount object-store prefixes of small files as a read-only EROFS volume"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "shoal 0.1.0");
  int exit_code = 0;
  shoal::cli::register_commands(app, exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
