// OSS V1 signatures (HMAC-SHA1): header form and presigned URLs.
#include <algorithm>
#include <chrono>

#include "store/hash.h"
#include "store/sign/canonical.h"
#include "store/sign/signer.h"
#include "store/sign/signing_detail.h"

namespace shoal {
namespace signing {
namespace {

// Query parameters V1 signs (sub-resources), besides any x-oss-* parameter; all others are
// left out of the signature. The list of the official OSS SDKs.
bool is_signed_parameter(std::string_view key) {
  static constexpr std::string_view kKeys[] = {
      "acl", "bucketInfo", "location", "stat", "delete", "append", "tagging", "objectMeta",
      "uploads", "uploadId", "partNumber", "security-token", "position",
      "response-content-type", "response-content-language", "response-expires",
      "response-cache-control", "response-content-disposition", "response-content-encoding",
      "restore", "callback", "callback-var", "versions", "versioning", "versionId",
      "sequential", "continuation-token", "regionList", "cloudboxes", "symlink"};
  return key.starts_with("x-oss-") ||
         std::find(std::begin(kKeys), std::end(kKeys), key) != std::end(kKeys);
}

std::string canonical_oss_headers(const HttpRequest& req) {
  CanonicalHeaderList list;
  for (const auto& [name, value] : req.headers) {
    std::string lower = to_lower(name);
    if (lower.starts_with("x-oss-")) list.emplace_back(std::move(lower), std::string(trim(value)));
  }
  std::string out;
  for (const auto& [name, value] : merge_sorted(std::move(list))) out += name + ':' + value + '\n';
  return out;
}

// "/bucket/key?sub&sub=value", raw (V1 signs unencoded keys and values).
std::string canonical_resource(const HttpRequest& req, std::string_view bucket) {
  std::string resource = bucket.empty() ? req.path : '/' + std::string(bucket) + req.path;
  if (resource.empty()) resource = "/";
  QueryList signed_params;
  for (const auto& param : req.query) {
    if (is_signed_parameter(param.first)) signed_params.push_back(param);
  }
  std::sort(signed_params.begin(), signed_params.end());
  char separator = '?';
  for (const auto& [key, value] : signed_params) {
    resource += separator;
    separator = '&';
    resource += key;
    if (!value.empty()) resource += '=' + value;
  }
  return resource;
}

Steps sign_with_date(const HttpRequest& req, const Credentials& credentials,
                     std::string_view bucket, std::string_view date) {
  Steps steps;
  steps.string_to_sign = oss_v1_string_to_sign(req, bucket, date);
  steps.signature = base64_encode(hmac_sha1(credentials.secret_access_key, steps.string_to_sign));
  return steps;
}

}  // namespace

std::string oss_v1_string_to_sign(const HttpRequest& req, std::string_view bucket,
                                  std::string_view date) {
  const std::string* md5 = req.header("Content-MD5");
  const std::string* type = req.header("Content-Type");
  return req.method + '\n' + (md5 ? *md5 : "") + '\n' + (type ? *type : "") + '\n' +
         std::string(date) + '\n' + canonical_oss_headers(req) + canonical_resource(req, bucket);
}

Steps oss_v1_sign_headers(HttpRequest& req, const Credentials& credentials, std::string_view bucket,
                          TimePoint now) {
  std::string date = http_date(now);
  req.set_header("Date", date);
  if (!credentials.session_token.empty()) {
    req.set_header("x-oss-security-token", credentials.session_token);
  }
  Steps steps = sign_with_date(req, credentials, bucket, date);
  req.set_header("Authorization", "OSS " + credentials.access_key_id + ':' + steps.signature);
  return steps;
}

Steps oss_v1_presign(HttpRequest& req, const Credentials& credentials, std::string_view bucket,
                     TimePoint expires_at) {
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(expires_at.time_since_epoch());
  std::string expires = std::to_string(seconds.count());
  if (!credentials.session_token.empty()) {
    req.query.emplace_back("security-token", credentials.session_token);
  }
  Steps steps = sign_with_date(req, credentials, bucket, expires);
  req.query.emplace_back("OSSAccessKeyId", credentials.access_key_id);
  req.query.emplace_back("Expires", expires);
  req.query.emplace_back("Signature", steps.signature);
  return steps;
}

}  // namespace signing

namespace {

class OssV1Signer : public Signer {
 public:
  OssV1Signer(std::shared_ptr<CredentialProvider> credentials, std::string bucket)
      : Signer(std::move(credentials)), bucket_(std::move(bucket)) {}

 protected:
  void sign_with(HttpRequest& req, const Credentials& keys,
                 std::chrono::system_clock::time_point now) const override {
    signing::oss_v1_sign_headers(req, keys, bucket_, now);
  }

 private:
  std::string bucket_;
};

}  // namespace

std::unique_ptr<Signer> make_oss_v1_signer(std::shared_ptr<CredentialProvider> credentials,
                                           std::string bucket) {
  return std::make_unique<OssV1Signer>(std::move(credentials), std::move(bucket));
}

std::unique_ptr<Signer> make_oss_v1_signer(Credentials credentials, std::string bucket) {
  return make_oss_v1_signer(CredentialProvider::fixed(std::move(credentials)), std::move(bucket));
}

void presign_oss_v1(HttpRequest& req, const Credentials& credentials, const std::string& bucket,
                    std::chrono::system_clock::time_point expires_at) {
  if (credentials.empty()) return;
  signing::oss_v1_presign(req, credentials, bucket, expires_at);
}

}  // namespace shoal
