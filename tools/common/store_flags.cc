#include "tools/common/store_flags.h"

namespace shoal::cli {

void add_store_flags(CLI::App& app, StoreFlagValues& values) {
  app.add_option("--endpoint", values.endpoint,
                 "Service endpoint, e.g. http://127.0.0.1:9000 (default: config, then "
                 "AWS_ENDPOINT_URL / OSS_ENDPOINT)");
  app.add_option("--region", values.region,
                 "Region, e.g. cn-hangzhou, us-east-1 (default: config, then AWS_REGION / "
                 "OSS_REGION)");
  auto* path = app.add_flag("--path-style", values.path_style,
                            "Address buckets as host/bucket/key (automatic for IPs and localhost)");
  auto* hosted = app.add_flag("--virtual-hosted", values.virtual_hosted,
                              "Address buckets as bucket.host/key");
  path->excludes(hosted);
  app.add_flag("--oss-v1", values.oss_v1, "Sign OSS requests with the V1 signature instead of V4");
}

StoreFlags to_store_flags(const StoreFlagValues& values, const std::string& config_path) {
  StoreFlags f;
  f.config_path = config_path;
  if (!values.endpoint.empty()) f.endpoint = values.endpoint;
  if (!values.region.empty()) f.region = values.region;
  if (values.path_style) f.addressing = StoreConfig::Addressing::kPath;
  if (values.virtual_hosted) f.addressing = StoreConfig::Addressing::kVirtualHosted;
  f.oss_v1 = values.oss_v1;
  return f;
}

}  // namespace shoal::cli
