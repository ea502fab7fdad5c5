// Resolving a StoreConfig. Each setting comes from the first source that has it:
//   1. command-line flags (--endpoint, --region, --path-style / --virtual-hosted, --oss-v1),
//   2. the [store] table of a TOML config file, overlaid by [store.oss] or [store.s3],
//   3. the environment: AWS_ENDPOINT_URL, AWS_REGION, AWS_DEFAULT_REGION (s3);
//      OSS_ENDPOINT, OSS_REGION (oss).
// Credentials: inline keys in the config file, else the variables the config file names
// (access_key_id_env, secret_env, session_token_env), else OSS_ACCESS_KEY_ID /
// OSS_ACCESS_KEY_SECRET / OSS_SESSION_TOKEN (oss) or AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (s3); none at all means anonymous requests.
// Error messages name settings and variables, never their secret values.
//
// Config file keys ([store], [store.oss], [store.s3]):
//   endpoint = "oss-cn-hangzhou.aliyuncs.com"   # https:// added when no scheme is given
//   region = "cn-hangzhou"
//   internal = true                 # oss: derive the "-internal" endpoint from the region
//   addressing = "auto" | "path" | "virtual-hosted"
//   signature = "v4" | "v1"         # oss only
//   access_key_id, access_key_secret (or secret_access_key), session_token
//   access_key_id_env, secret_env, session_token_env   # names of variables holding them
//   retries = 5                     # attempts, including the first
//   retry_base_ms, retry_cap_ms, connections, connect_timeout_ms, request_timeout_ms
//   verify_tls = true               # false: no certificate check at all (logged loudly)
//   ca_file = "/etc/pki/private-ca.pem"   # CAs to trust besides the system's; else AWS_CA_BUNDLE
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "store/store_config.h"

namespace shoal {

// Looks a variable up; tests pass a map instead of touching the process environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvLookup process_environment();

struct StoreFlags {
  std::string config_path;  // empty: no config file
  std::optional<std::string> endpoint;
  std::optional<std::string> region;
  std::optional<StoreConfig::Addressing> addressing;
  bool oss_v1 = false;
};

// The store settings a config file wrote down, before any resolution.
struct StoreFileSettings {
  std::optional<std::string> endpoint;
  std::optional<std::string> region;
  std::optional<bool> internal;
  std::optional<StoreConfig::Addressing> addressing;
  std::optional<StoreConfig::OssSignature> signature;
  std::optional<std::string> access_key_id;
  std::optional<std::string> access_key_secret;
  std::optional<std::string> session_token;
  std::optional<std::string> access_key_id_env;
  std::optional<std::string> secret_env;
  std::optional<std::string> session_token_env;
  std::optional<int64_t> retries;
  std::optional<int64_t> retry_base_ms;
  std::optional<int64_t> retry_cap_ms;
  std::optional<int64_t> connections;
  std::optional<int64_t> connect_timeout_ms;
  std::optional<int64_t> request_timeout_ms;
  std::optional<bool> verify_tls;
  std::optional<std::string> ca_file;
};

// Reads [store] and the scheme's [store.<scheme>] table; other tables are left to their
// owners. `origin` names the source in messages (the file path). Unknown keys in the store
// tables are errors, so a typo cannot silently fall back to a default.
Result<StoreFileSettings> parse_store_settings(std::string_view toml_text, std::string_view origin,
                                               ObjectUri::Scheme scheme);
Result<StoreFileSettings> load_store_settings(const std::string& path, ObjectUri::Scheme scheme);

Result<StoreConfig> resolve_store_config(ObjectUri::Scheme scheme, const StoreFlags& flags,
                                         const StoreFileSettings& file, const EnvLookup& env);
// Loads flags.config_path (when set) and resolves.
Result<StoreConfig> resolve_store_config(ObjectUri::Scheme scheme, const StoreFlags& flags,
                                         const EnvLookup& env);

// "host:port" → "https://host:port"; trailing '/' dropped; only http and https accepted.
Result<std::string> normalize_endpoint(std::string_view endpoint);

}  // namespace shoal
