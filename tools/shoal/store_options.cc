#include "tools/shoal/store_options.h"

#include <ctime>
#include <iostream>

#include "store/config.h"
#include "store/uri.h"

namespace shoal::cli {

void add_store_options(CLI::App& cmd, StoreOptions& o) {
  cmd.add_option("--config", o.config, "TOML config file with a [store] table")
      ->check(CLI::ExistingFile);
  add_store_flags(cmd, o);
}

int report_failure(std::string_view what, const Error& error) {
  std::cerr << "shoal: " << what << ": " << error.describe() << "\n";
  return kExitFailed;
}

int report_usage(std::string_view message) {
  std::cerr << "shoal: " << message << "\nRun with --help for usage.\n";
  return kExitUsage;
}

std::optional<OpenedStore> open_from_args(std::string_view uri_text, const StoreOptions& options,
                                          int& exit_code) {
  auto uri = parse_object_uri(uri_text);
  if (!uri.ok()) {
    exit_code = report_usage(uri.error().message);
    return std::nullopt;
  }
  auto config = resolve_store_config(uri->scheme, to_store_flags(options, options.config),
                                     process_environment());
  if (!config.ok()) {
    exit_code = report_failure("configuration for " + uri->to_string(), config.error());
    return std::nullopt;
  }
  auto store = BlockingStore::open(*uri, *config);
  if (!store.ok()) {
    exit_code = report_failure("open " + uri->to_string(), store.error());
    return std::nullopt;
  }
  return OpenedStore{std::move(*uri), std::move(*store)};
}

std::string format_utc(int64_t unix_ns) {
  std::time_t seconds = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace shoal::cli
