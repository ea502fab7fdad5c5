// shoal stat URI: one object's metadata, one "name: value" line each, for people and awk.
#include <cinttypes>
#include <cstdio>
#include <memory>

#include "tools/shoal/commands.h"
#include "tools/shoal/store_options.h"

namespace shoal::cli {
namespace {

struct StatOptions {
  std::string uri;
  StoreOptions store;
};

int run_stat(const StatOptions& o) {
  int exit_code = 0;
  auto opened = open_from_args(o.uri, o.store, exit_code);
  if (!opened) return exit_code;
  const std::string& key = opened->uri.prefix;
  if (key.empty() || key.ends_with('/'))
    return report_usage(opened->uri.to_string() + " names no object");
  auto info = opened->store.head(key);
  if (!info.ok()) return report_failure("stat " + opened->uri.to_string(), info.error());
  std::printf("uri:   %s\n", opened->uri.to_string().c_str());
  std::printf("size:  %" PRIu64 "\n", info->size);
  std::printf("etag:  %s\n", info->etag.c_str());
  std::printf("mtime: %s.%09" PRId64 " UTC\n", format_utc(info->mtime_ns).c_str(),
              info->mtime_ns % 1'000'000'000);
  if (info->crc64) {
    std::printf("crc64: %" PRIu64 "\n", *info->crc64);
  } else {
    std::printf("crc64: - (not reported by %s)\n", opened->store.async().describe().c_str());
  }
  return 0;
}

}  // namespace

void register_stat(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<StatOptions>();
  CLI::App* cmd = app.add_subcommand("stat", "Show an object's size, ETag, mtime and CRC-64");
  cmd->add_option("URI", options->uri, "The object, e.g. oss://bucket/key or file:///dir/file")
      ->required();
  add_store_options(*cmd, options->store);
  cmd->callback([options, &exit_code] { exit_code = run_stat(*options); });
}

}  // namespace shoal::cli
