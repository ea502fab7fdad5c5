// Credentials fetched over HTTP: STS in exchange for a web identity (OIDC) token, and the
// instance metadata services of ECS and EC2. Each fetch re-reads the token file (kubelet
// rotates projected service account tokens) and asks once; the provider decides when.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/result.h"
#include "store/credentials/provider.h"

namespace shoal {

// How to reach a credentials service: TLS settings follow the store's.
struct RemoteOptions {
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds timeout{10000};
  bool verify_tls = true;
  std::string ca_file;
};

// AWS STS AssumeRoleWithWebIdentity (IRSA): AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE,
// AWS_ROLE_SESSION_NAME. The call is unsigned: the token is the proof.
struct WebIdentitySettings {
  std::string endpoint;  // "https://sts.us-east-1.amazonaws.com"
  std::string role_arn;
  std::string token_file;
  std::string session_name;
  int duration_seconds = 0;  // 0: the role's default
};
std::unique_ptr<CredentialSource> make_aws_web_identity_source(WebIdentitySettings settings,
                                                               RemoteOptions options);

// Alibaba Cloud STS AssumeRoleWithOIDC (ACK RRSA): ALIBABA_CLOUD_ROLE_ARN,
// ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE. RPC style, unsigned.
struct OidcSettings {
  std::string endpoint;  // "https://sts.aliyuncs.com"
  std::string role_arn;
  std::string provider_arn;
  std::string token_file;
  std::string session_name;
  int duration_seconds = 3600;
};
std::unique_ptr<CredentialSource> make_alibaba_oidc_source(OidcSettings settings,
                                                           RemoteOptions options);

// The ECS RAM role of this instance, from http://100.100.100.200 (hardened mode: a token
// from PUT /latest/api/token is sent with each request). An empty role asks the service
// for the instance's role name.
struct MetadataSettings {
  std::string endpoint;  // "http://100.100.100.200" / "http://169.254.169.254"
  std::string role;      // empty: discovered
};
std::unique_ptr<CredentialSource> make_ecs_ram_role_source(MetadataSettings settings,
                                                           RemoteOptions options);
// The EC2 instance profile via IMDSv2 (session token from PUT /latest/api/token).
std::unique_ptr<CredentialSource> make_imds_source(MetadataSettings settings,
                                                   RemoteOptions options);

// The answers, parsed; exposed for tests. `where` starts every error message. A service's
// error answer becomes kAccessDenied (the token or role is refused) or kServer, with the
// service's code and message; anything unreadable is kServer naming what was missing.
Result<ExpiringCredentials> parse_assume_role_with_web_identity(int status, std::string_view body,
                                                                const std::string& where);
Result<ExpiringCredentials> parse_assume_role_with_oidc(int status, std::string_view body,
                                                        const std::string& where);
// ECS: {"AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration", "Code": "Success"};
// EC2: {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "Code": "Success"}.
Result<ExpiringCredentials> parse_metadata_credentials(std::string_view body,
                                                       const std::string& where);

}  // namespace shoal
