// Request signing: AWS SigV4 (S3), OSS V4 (OSS4-HMAC-SHA256) and OSS V1 (HMAC-SHA1).
//
// A signer adds the date, payload-hash, session-token and Authorization headers to a request
// whose method, host, path, query and other headers are final: whatever changes afterwards is
// not covered by the signature. The HTTP client must send req.headers as they are and build
// its URL with request_target() (store/url_encode.h). Anonymous (empty) credentials sign
// nothing. Request bodies are not hashed: S3 and OSS V4 requests carry UNSIGNED-PAYLOAD.
//
// A signer asks its CredentialProvider (store/credentials/provider.h) for the current keys on
// every sign(), so keys that rotate or expire are picked up by the next request; the factories
// taking fixed Credentials wrap them in a provider that never changes.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "store/credentials.h"
#include "store/credentials/provider.h"
#include "store/http_request.h"

namespace shoal {

class Signer {
 public:
  explicit Signer(std::shared_ptr<CredentialProvider> credentials)
      : credentials_(std::move(credentials)) {}
  virtual ~Signer() = default;

  // Signs with the provider's current keys and returns them: a caller whose request is then
  // refused as expired reports exactly those (CredentialProvider::refresh_rejected).
  std::shared_ptr<const Credentials> sign(HttpRequest& req,
                                          std::chrono::system_clock::time_point now) const {
    std::shared_ptr<const Credentials> keys = credentials_->current();
    if (!keys->empty()) sign_with(req, *keys, now);
    return keys;
  }
  CredentialProvider& credentials() const { return *credentials_; }

 protected:
  virtual void sign_with(HttpRequest& req, const Credentials& keys,
                         std::chrono::system_clock::time_point now) const = 0;

 private:
  std::shared_ptr<CredentialProvider> credentials_;
};

// AWS SigV4 with S3's rules: the path encoded once and not normalized, UNSIGNED-PAYLOAD in
// x-amz-content-sha256, the session token in x-amz-security-token. req.path is the path as
// addressed (path style "/bucket/key", virtual-hosted "/key").
std::unique_ptr<Signer> make_sigv4_signer(std::shared_ptr<CredentialProvider> credentials,
                                          std::string region, std::string service = "s3");
std::unique_ptr<Signer> make_sigv4_signer(Credentials credentials, std::string region,
                                          std::string service = "s3");

// OSS V4. OSS requests are virtual-hosted: req.path is "/key" within `bucket`, and the signed
// resource is "/bucket/key". An empty bucket signs service-level requests ("/").
std::unique_ptr<Signer> make_oss_v4_signer(std::shared_ptr<CredentialProvider> credentials,
                                           std::string region, std::string bucket);
std::unique_ptr<Signer> make_oss_v4_signer(Credentials credentials, std::string region,
                                           std::string bucket);

// OSS V1, with the same addressing as OSS V4. Sets the Date header it signs.
std::unique_ptr<Signer> make_oss_v1_signer(std::shared_ptr<CredentialProvider> credentials,
                                           std::string bucket);
std::unique_ptr<Signer> make_oss_v1_signer(Credentials credentials, std::string bucket);

// Turns req into a presigned SigV4 (S3 rules) request valid for `expires` from `now`: adds
// the X-Amz-* query parameters including X-Amz-Signature. Anonymous credentials add nothing.
void presign_sigv4(HttpRequest& req, const Credentials& credentials, const std::string& region,
                   std::chrono::system_clock::time_point now, std::chrono::seconds expires,
                   const std::string& service = "s3");

// Presigned OSS V1 URL valid until `expires_at`: adds OSSAccessKeyId, Expires, Signature
// (and security-token) to req.query.
void presign_oss_v1(HttpRequest& req, const Credentials& credentials, const std::string& bucket,
                    std::chrono::system_clock::time_point expires_at);

}  // namespace shoal
