#include "tools/shoal/store_options.h"

#include <ctime>
#include <iostream>

#include "store/config.h"
#include "store/uri.h"

namespace shoal::cli {

void add_store_options(CLI::App& cmd, StoreOptions& o) {
  cmd.add_option("--config", o.config, "TOML config file with a [store] table")
      ->check(CLI::ExistingFile);
  cmd.add_option("--endpoint", o.endpoint,
                 "Service endpoint, e.g. http://127.0.0.1:9000 (default: config, then "
                 "AWS_ENDPOINT_URL / OSS_ENDPOINT)");
  cmd.add_option("--region", o.region,
                 "Region, e.g. cn-hangzhou, us-east-1 (default: config, then AWS_REGION / "
                 "OSS_REGION)");
  auto* path = cmd.add_flag("--path-style", o.path_style,
                            "Address buckets as host/bucket/key (automatic for IPs and localhost)");
  auto* hosted = cmd.add_flag("--virtual-hosted", o.virtual_hosted,
                              "Address buckets as bucket.host/key");
  path->excludes(hosted);
  cmd.add_flag("--oss-v1", o.oss_v1, "Sign OSS requests with the V1 signature instead of V4");
}

int report_failure(std::string_view what, const Error& error) {
  std::cerr << "shoal: " << what << ": " << error.describe() << "\n";
  return kExitFailed;
}

int report_usage(std::string_view message) {
  std::cerr << "shoal: " << message << "\nRun with --help for usage.\n";
  return kExitUsage;
}

namespace {

StoreFlags to_flags(const StoreOptions& o) {
  StoreFlags f;
  f.config_path = o.config;
  if (!o.endpoint.empty()) f.endpoint = o.endpoint;
  if (!o.region.empty()) f.region = o.region;
  if (o.path_style) f.addressing = StoreConfig::Addressing::kPath;
  if (o.virtual_hosted) f.addressing = StoreConfig::Addressing::kVirtualHosted;
  f.oss_v1 = o.oss_v1;
  return f;
}

}  // namespace

std::optional<OpenedStore> open_from_args(std::string_view uri_text, const StoreOptions& options,
                                          int& exit_code) {
  auto uri = parse_object_uri(uri_text);
  if (!uri.ok()) {
    exit_code = report_usage(uri.error().message);
    return std::nullopt;
  }
  auto config = resolve_store_config(uri->scheme, to_flags(options), process_environment());
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
