// Subcommand registration. Each register_* adds one subcommand whose callback stores the
// process exit code in `exit_code` (0 ok, 1 operation failed, 2 usage error).
#pragma once

#include <CLI/CLI.hpp>

namespace shoal::cli {

void register_commands(CLI::App& app, int& exit_code);

void register_ls(CLI::App& app, int& exit_code);
void register_cat(CLI::App& app, int& exit_code);
void register_put(CLI::App& app, int& exit_code);
void register_stat(CLI::App& app, int& exit_code);
void register_index(CLI::App& app, int& exit_code);  // tools/shoal/index_cmd.cc
void register_bench(CLI::App& app, int& exit_code);  // tools/shoal/bench_cmd.cc
void register_writer(CLI::App& app, int& exit_code);  // tools/shoal/writer_cmd.cc
void register_mount(CLI::App& app, int& exit_code);   // tools/shoal/mount_cmd.cc
void register_umount(CLI::App& app, int& exit_code);  // tools/shoal/mount_cmd.cc
void register_stats(CLI::App& app, int& exit_code);   // tools/shoal/mount_cmd.cc
void register_volumes(CLI::App& app, int& exit_code);  // tools/shoal/mount_cmd.cc

}  // namespace shoal::cli
