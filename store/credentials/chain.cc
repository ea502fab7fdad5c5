#include "store/credentials/chain.h"

#include <sys/stat.h>

#include "store/credentials/file_sources.h"

namespace shoal {
namespace {

std::optional<std::string> first_set(std::initializer_list<std::optional<std::string>> values) {
  for (const auto& v : values)
    if (v && !v->empty()) return v;
  return std::nullopt;
}

bool exists(const std::string& path) {
  struct stat st {};
  return !path.empty() && ::stat(path.c_str(), &st) == 0;
}

std::string with_scheme(std::string endpoint) {
  if (endpoint.find("://") == std::string::npos) endpoint = "https://" + endpoint;
  while (endpoint.ends_with('/')) endpoint.pop_back();
  return endpoint;
}

Result<std::shared_ptr<CredentialProvider>> start(std::unique_ptr<CredentialSource> source,
                                                  const CredentialChainSettings& s) {
  return CredentialProvider::start(std::move(source), s.refresh);
}

RemoteOptions remote_options(const CredentialChainSettings& s, bool metadata) {
  RemoteOptions o;
  o.verify_tls = s.verify_tls;
  o.ca_file = s.ca_file;
  if (metadata) {
    // A metadata service answers in milliseconds on its own network, or not at all.
    o.connect_timeout = std::chrono::milliseconds(1000);
    o.timeout = std::chrono::milliseconds(3000);
  }
  return o;
}

// Step 2. None when no directory is configured.
std::optional<std::string> credentials_dir(const CredentialChainSettings& s, const EnvLookup& env) {
  return first_set({s.credentials_dir, env("SHOAL_CREDENTIALS_DIR")});
}

// Step 3. `named` says whether the user named the profile (then it must exist).
struct ProfileChoice {
  AwsProfileFiles files;
  bool named = false;
};
std::optional<ProfileChoice> profile_choice(const CredentialChainSettings& s,
                                           const EnvLookup& env) {
  ProfileChoice c;
  auto named = first_set({s.profile, env("AWS_PROFILE")});
  c.named = named.has_value();
  c.files.profile = named.value_or("default");
  // Without HOME there is no ~/.aws, only the files the variables name.
  auto home = first_set({env("HOME")});
  c.files.credentials_path = first_set({env("AWS_SHARED_CREDENTIALS_FILE")})
                                 .value_or(home ? *home + "/.aws/credentials" : "");
  c.files.config_path =
      first_set({env("AWS_CONFIG_FILE")}).value_or(home ? *home + "/.aws/config" : "");
  return c;
}

// Step 4, AWS half. None when the variables are not set.
std::optional<WebIdentitySettings> aws_web_identity(const CredentialChainSettings& s,
                                                    const EnvLookup& env) {
  auto role = first_set({env("AWS_ROLE_ARN")});
  auto token = first_set({env("AWS_WEB_IDENTITY_TOKEN_FILE")});
  if (!role || !token) return std::nullopt;
  WebIdentitySettings w;
  w.role_arn = *role;
  w.token_file = *token;
  w.session_name = env("AWS_ROLE_SESSION_NAME").value_or("");
  std::string region = first_set({env("AWS_REGION"), env("AWS_DEFAULT_REGION")})
                           .value_or(s.region.empty() ? "us-east-1" : s.region);
  w.endpoint = with_scheme(first_set({s.sts_endpoint, env("AWS_ENDPOINT_URL_STS"),
                                      env("AWS_STS_ENDPOINT")})
                               .value_or("https://sts." + region + ".amazonaws.com"));
  return w;
}

// Step 4, Alibaba half.
std::optional<OidcSettings> alibaba_oidc(const CredentialChainSettings& s, const EnvLookup& env) {
  auto role = first_set({env("ALIBABA_CLOUD_ROLE_ARN")});
  auto provider = first_set({env("ALIBABA_CLOUD_OIDC_PROVIDER_ARN")});
  auto token = first_set({env("ALIBABA_CLOUD_OIDC_TOKEN_FILE")});
  if (!role || !provider || !token) return std::nullopt;
  OidcSettings o;
  o.role_arn = *role;
  o.provider_arn = *provider;
  o.token_file = *token;
  o.session_name = env("ALIBABA_CLOUD_ROLE_SESSION_NAME").value_or("");
  std::string fallback = "https://sts.aliyuncs.com";
  if (auto region = first_set({env("ALIBABA_CLOUD_STS_REGION")})) {
    bool vpc = env("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED").value_or("") == "true";
    fallback = "https://sts" + std::string(vpc ? "-vpc." : ".") + *region + ".aliyuncs.com";
  }
  o.endpoint = with_scheme(
      first_set({s.sts_endpoint, env("ALIBABA_CLOUD_STS_ENDPOINT")}).value_or(fallback));
  return o;
}

MetadataSettings metadata(const CredentialChainSettings& s, const EnvLookup& env, bool ecs) {
  MetadataSettings m;
  std::optional<std::string> endpoint =
      ecs ? first_set({s.metadata_endpoint, env("SHOAL_METADATA_ENDPOINT")})
          : first_set({s.metadata_endpoint, env("SHOAL_METADATA_ENDPOINT"),
                       env("AWS_EC2_METADATA_SERVICE_ENDPOINT")});
  m.endpoint = endpoint.value_or(ecs ? "http://100.100.100.200" : "http://169.254.169.254");
  if (m.endpoint.find("://") == std::string::npos) m.endpoint = "http://" + m.endpoint;
  while (m.endpoint.ends_with('/')) m.endpoint.pop_back();
  m.role = (ecs ? first_set({s.metadata_role, env("ALIBABA_CLOUD_ECS_METADATA")})
                : first_set({s.metadata_role}))
               .value_or("");
  return m;
}

Error unusable(std::string_view mode, std::string what) {
  return Error(ErrorKind::kInvalidArgument,
               "credentials = \"" + std::string(mode) + "\" (config or SHOAL_CREDENTIALS): " +
                   std::move(what));
}

Result<std::shared_ptr<CredentialProvider>> web_identity(ObjectUri::Scheme scheme,
                                                         const CredentialChainSettings& s,
                                                         const EnvLookup& env) {
  auto aws = aws_web_identity(s, env);
  auto ali = alibaba_oidc(s, env);
  bool alibaba_first = scheme == ObjectUri::Scheme::kOss;
  if (ali && (alibaba_first || !aws))
    return start(make_alibaba_oidc_source(*ali, remote_options(s, false)), s);
  if (aws) return start(make_aws_web_identity_source(*aws, remote_options(s, false)), s);
  return std::shared_ptr<CredentialProvider>();
}

}  // namespace

std::optional<CredentialMode> parse_credential_mode(std::string_view name) {
  if (name == "auto") return CredentialMode::kAuto;
  if (name == "static") return CredentialMode::kStatic;
  if (name == "credentials-dir") return CredentialMode::kDirectory;
  if (name == "profile") return CredentialMode::kProfile;
  if (name == "web-identity") return CredentialMode::kWebIdentity;
  if (name == "ecs-ram-role") return CredentialMode::kEcsRamRole;
  if (name == "imds") return CredentialMode::kImds;
  if (name == "anonymous") return CredentialMode::kAnonymous;
  return std::nullopt;
}

Result<std::shared_ptr<CredentialProvider>> resolve_credential_chain(
    ObjectUri::Scheme scheme, const Credentials& explicit_keys,
    const CredentialChainSettings& s, const EnvLookup& env) {
  std::string mode_name = first_set({s.mode, env("SHOAL_CREDENTIALS")}).value_or("auto");
  auto mode = parse_credential_mode(mode_name);
  if (!mode)
    return Error(ErrorKind::kInvalidArgument,
                 "credentials = \"" + mode_name +
                     "\" (config or SHOAL_CREDENTIALS) is not one of auto, static, "
                     "credentials-dir, profile, web-identity, ecs-ram-role, imds, anonymous");
  using P = std::shared_ptr<CredentialProvider>;
  bool auto_mode = *mode == CredentialMode::kAuto;

  // 1. Explicit keys.
  if (auto_mode || *mode == CredentialMode::kStatic) {
    if (!explicit_keys.empty()) return CredentialProvider::fixed(explicit_keys);
    if (*mode == CredentialMode::kStatic)
      return unusable(mode_name, "no keys were given: set access_key_id and access_key_secret "
                                 "in the config, or the OSS_* / AWS_* key variables");
  }
  if (*mode == CredentialMode::kAnonymous) return P();

  // 2. A credentials directory.
  if (auto_mode || *mode == CredentialMode::kDirectory) {
    if (auto dir = credentials_dir(s, env)) return start(make_secret_dir_source(*dir), s);
    if (!auto_mode)
      return unusable(mode_name, "set credentials_dir or SHOAL_CREDENTIALS_DIR to the directory");
  }

  // 3. An AWS profile.
  if (auto_mode || *mode == CredentialMode::kProfile) {
    auto choice = profile_choice(s, env);
    bool applies = scheme == ObjectUri::Scheme::kS3 || choice->named || !auto_mode;
    bool present = exists(choice->files.credentials_path) || exists(choice->files.config_path);
    if (applies && (present || choice->named || !auto_mode)) {
      auto provider = start(make_aws_profile_source(choice->files), s);
      // An unnamed default profile that is not there is not an error: the chain goes on.
      if (provider.ok() || choice->named || !auto_mode ||
          provider.error().kind != ErrorKind::kNotFound)
        return provider;
    }
  }

  // 4. Web identity.
  if (auto_mode || *mode == CredentialMode::kWebIdentity) {
    SHOAL_ASSIGN(P provider, web_identity(scheme, s, env));
    if (provider) return provider;
    if (!auto_mode)
      return unusable(mode_name,
                      "set AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (IRSA), or "
                      "ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and "
                      "ALIBABA_CLOUD_OIDC_TOKEN_FILE (RRSA)");
  }

  // 5. Instance metadata, only when asked for.
  if (*mode == CredentialMode::kEcsRamRole ||
      (auto_mode && first_set({env("ALIBABA_CLOUD_ECS_METADATA")}))) {
    return start(make_ecs_ram_role_source(metadata(s, env, true), remote_options(s, true)), s);
  }
  if (*mode == CredentialMode::kImds)
    return start(make_imds_source(metadata(s, env, false), remote_options(s, true)), s);

  return P();  // anonymous
}

}  // namespace shoal
