// Resolving a StoreConfig. Each setting comes from the first source that has it:
//   1. command-line flags (--endpoint, --region, --path-style / --virtual-hosted, --oss-v1),
//   2. the [store] table of a TOML config file, overlaid by [store.oss] or [store.s3],
//   3. the environment: AWS_ENDPOINT_URL, AWS_REGION, AWS_DEFAULT_REGION (s3);
//      OSS_ENDPOINT, OSS_REGION (oss).
// Credentials: the provider chain of store/credentials/chain.h, first match wins:
//   1. explicit keys: inline keys in the config file, else the variables the config file
//      names (access_key_id_env, secret_env, session_token_env), else OSS_ACCESS_KEY_ID /
//      OSS_ACCESS_KEY_SECRET / OSS_SESSION_TOKEN (oss) or AWS_ACCESS_KEY_ID /
//      AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (s3);
//   2. a credentials directory (credentials_dir, else SHOAL_CREDENTIALS_DIR) laid out as
//      Kubernetes mounts a Secret, re-read when it changes;
//   3. an AWS profile (profile, else AWS_PROFILE; AWS_SHARED_CREDENTIALS_FILE and
//      AWS_CONFIG_FILE move the files); for oss:// only when a profile is named;
//   4. web identity: ACK RRSA (ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN,
//      ALIBABA_CLOUD_OIDC_TOKEN_FILE → STS AssumeRoleWithOIDC) or AWS IRSA (AWS_ROLE_ARN,
//      AWS_WEB_IDENTITY_TOKEN_FILE → STS AssumeRoleWithWebIdentity);
//   5. instance metadata, only when asked for: the ECS RAM role when ALIBABA_CLOUD_ECS_METADATA
//      names it (or credentials = "ecs-ram-role"), EC2 IMDSv2 with credentials = "imds";
// none at all means anonymous requests. Keys from steps 2-5 are refreshed ahead of expiry in
// the background (StoreConfig::credential_provider). Error messages name settings and
// variables, never their secret values.
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
//   credentials = "auto"            # or static, credentials-dir, profile, web-identity,
//                                   # ecs-ram-role, imds, anonymous (else SHOAL_CREDENTIALS)
//   credentials_dir = "/var/run/secrets/shoal"  # a mounted Secret (else SHOAL_CREDENTIALS_DIR)
//   profile = "training"            # the AWS profile (else AWS_PROFILE)
//   sts_endpoint = "https://sts-vpc.cn-hangzhou.aliyuncs.com"  # else ALIBABA_CLOUD_STS_ENDPOINT
//                                   # (oss) / AWS_ENDPOINT_URL_STS, AWS_STS_ENDPOINT (s3)
//   metadata_endpoint = "http://100.100.100.200"  # else SHOAL_METADATA_ENDPOINT,
//                                   # AWS_EC2_METADATA_SERVICE_ENDPOINT (imds)
//   metadata_role = "MyEcsRole"     # else ALIBABA_CLOUD_ECS_METADATA; empty: asked of the service
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "store/credentials/chain.h"
#include "store/store_config.h"

namespace shoal {

EnvLookup process_environment();
// A fixed set of variables (a test's, or a caller handing over a volume's own settings).
EnvLookup environment_of(std::map<std::string, std::string, std::less<>> vars);

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
  std::optional<std::string> credentials;  // the chain's mode
  std::optional<std::string> credentials_dir;
  std::optional<std::string> profile;
  std::optional<std::string> sts_endpoint;
  std::optional<std::string> metadata_endpoint;
  std::optional<std::string> metadata_role;
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
