// shoal: the command-line tool. Each subcommand lives in its own file and registers itself.
#include <CLI/CLI.hpp>

#include "tools/shoal/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"shoal: mount object-store prefixes of small files as a read-only EROFS volume"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "shoal 0.1.0");
  app.footer(
      "URIs: oss://bucket/prefix, s3://bucket/prefix, file:///absolute/dir\n"
      "Exit codes: 0 ok, 1 the operation failed, 2 usage error.\n");
  int exit_code = 0;
  shoal::cli::register_commands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other parse error is a usage error.
    return app.exit(e) == 0 ? 0 : 2;
  }
  return exit_code;
}
