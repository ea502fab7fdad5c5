// The credential provider chain: which source signs a store's requests. The first source
// that applies wins (store/config.h lists the settings; README "Credentials" the examples):
//   1. explicit keys: the config file's inline keys or the variables it names, else
//      OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET / OSS_SESSION_TOKEN (oss) or
//      AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (s3);
//   2. a credentials directory (credentials_dir, else SHOAL_CREDENTIALS_DIR): a Kubernetes
//      Secret mounted as files, re-read when kubelet swaps it;
//   3. an AWS profile from AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) and
//      AWS_CONFIG_FILE (~/.aws/config): profile, else AWS_PROFILE, else "default". For oss://
//      only when a profile is named (AWS keys are rarely OSS keys);
//   4. web identity: ALIBABA_CLOUD_ROLE_ARN + ALIBABA_CLOUD_OIDC_PROVIDER_ARN +
//      ALIBABA_CLOUD_OIDC_TOKEN_FILE (ACK RRSA) → Alibaba STS AssumeRoleWithOIDC, and
//      AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE (IRSA) → AWS STS
//      AssumeRoleWithWebIdentity; oss:// tries RRSA first, s3:// IRSA first;
//   5. the ECS RAM role, when ALIBABA_CLOUD_ECS_METADATA names the role.
// Nothing found: anonymous requests. Instance metadata is never probed unless asked for
// (credentials = "ecs-ram-role" or "imds", or ALIBABA_CLOUD_ECS_METADATA): a machine off the
// cloud would otherwise wait for a metadata address that never answers on every command.
//
// `credentials` (config) or SHOAL_CREDENTIALS picks one source instead of walking the
// chain: "auto" (the chain), "static" (step 1 only), "credentials-dir", "profile",
// "web-identity", "ecs-ram-role", "imds", "anonymous". A source picked this way that cannot
// be used is an error, never a silent fall-through.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "store/credentials/provider.h"
#include "store/credentials/remote_sources.h"
#include "store/store_config.h"

namespace shoal {

// Looks a variable up; tests pass a map instead of touching the process environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

enum class CredentialMode {
  kAuto,
  kStatic,
  kDirectory,
  kProfile,
  kWebIdentity,
  kEcsRamRole,
  kImds,
  kAnonymous
};
std::optional<CredentialMode> parse_credential_mode(std::string_view name);

struct CredentialChainSettings {
  std::optional<std::string> mode;             // credentials = "…"
  std::optional<std::string> credentials_dir;  // a Secret mounted as files
  std::optional<std::string> profile;          // the AWS profile
  std::optional<std::string> sts_endpoint;     // STS (AWS or Alibaba) for private clouds, tests
  std::optional<std::string> metadata_endpoint;
  std::optional<std::string> metadata_role;
  std::string region;  // the store's: picks the regional AWS STS endpoint
  bool verify_tls = true;
  std::string ca_file;
  RefreshPolicy refresh;
};

// `explicit_keys` is step 1, already resolved. Returns the provider that signs requests; null
// for anonymous requests. Errors name the source and what to change, never a secret.
Result<std::shared_ptr<CredentialProvider>> resolve_credential_chain(
    ObjectUri::Scheme scheme, const Credentials& explicit_keys,
    const CredentialChainSettings& settings, const EnvLookup& env);

}  // namespace shoal
