// OSS V4 signatures (OSS4-HMAC-SHA256), header form.
#include <algorithm>

#include "store/hash.h"
#include "store/sign/canonical.h"
#include "store/sign/signer.h"
#include "store/sign/signing_detail.h"
#include "store/url_encode.h"

namespace shoal {
namespace signing {
namespace {

constexpr std::string_view kAlgorithm = "OSS4-HMAC-SHA256";
constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

bool is_default_signed(std::string_view lower_name) {
  return lower_name.starts_with("x-oss-") || lower_name == "content-type" ||
         lower_name == "content-md5";
}

// The AdditionalHeaders list: lower-cased, sorted, without duplicates, without names signed
// anyway, and only names the request carries.
std::vector<std::string> additional_names(const HttpRequest& req,
                                          const std::vector<std::string>& requested) {
  std::vector<std::string> names;
  for (const std::string& name : requested) {
    std::string lower = to_lower(name);
    if (!is_default_signed(lower) && req.header(lower) != nullptr) names.push_back(lower);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::string join(const std::vector<std::string>& items, char separator) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

std::string canonical_query(const QueryList& query) {
  QueryList encoded;
  for (const auto& [key, value] : query) {
    encoded.emplace_back(uri_encode(key, true), uri_encode(value, true));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [key, value] : encoded) {
    if (!out.empty()) out += '&';
    out += key;
    if (!value.empty()) out += '=' + value;
  }
  return out;
}

std::string canonical_headers(const HttpRequest& req, const std::vector<std::string>& extra) {
  CanonicalHeaderList list;
  for (const auto& [name, value] : req.headers) {
    std::string lower = to_lower(name);
    bool wanted =
        is_default_signed(lower) || std::find(extra.begin(), extra.end(), lower) != extra.end();
    if (wanted) list.emplace_back(std::move(lower), std::string(trim(value)));
  }
  std::string out;
  for (const auto& [name, value] : merge_sorted(std::move(list))) out += name + ':' + value + '\n';
  return out;
}

std::string canonical_request(const HttpRequest& req, std::string_view bucket,
                              const std::vector<std::string>& extra) {
  std::string resource = bucket.empty() ? req.path : '/' + std::string(bucket) + req.path;
  if (resource.empty()) resource = "/";
  return req.method + '\n' + uri_encode(resource, false) + '\n' + canonical_query(req.query) +
         '\n' + canonical_headers(req, extra) + '\n' + join(extra, ';') + '\n' +
         std::string(kUnsignedPayload);
}

}  // namespace

Steps oss_v4_sign_headers(HttpRequest& req, const Credentials& credentials, const OssV4Scope& scope,
                          std::string_view bucket, TimePoint now,
                          const std::vector<std::string>& additional_headers) {
  std::string datetime = iso8601_basic(now);
  std::string date = datetime.substr(0, 8);
  req.set_header("x-oss-date", datetime);
  req.set_header("x-oss-content-sha256", std::string(kUnsignedPayload));
  if (!credentials.session_token.empty()) {
    req.set_header("x-oss-security-token", credentials.session_token);
  }
  std::vector<std::string> extra = additional_names(req, additional_headers);
  std::string scope_text = date + '/' + scope.region + '/' + scope.product + "/aliyun_v4_request";

  Steps steps;
  steps.canonical_request = canonical_request(req, bucket, extra);
  steps.string_to_sign = std::string(kAlgorithm) + '\n' + datetime + '\n' + scope_text + '\n' +
                         sha256_hex(steps.canonical_request);
  std::string key = derive_key("aliyun_v4" + credentials.secret_access_key,
                               {date, scope.region, scope.product, "aliyun_v4_request"});
  steps.signature = hex_encode(hmac_sha256(key, steps.string_to_sign));

  std::string authorization =
      std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + '/' + scope_text;
  if (!extra.empty()) authorization += ",AdditionalHeaders=" + join(extra, ';');
  authorization += ",Signature=" + steps.signature;
  req.set_header("Authorization", std::move(authorization));
  return steps;
}

}  // namespace signing

namespace {

class OssV4Signer : public Signer {
 public:
  OssV4Signer(std::shared_ptr<CredentialProvider> credentials, std::string region,
              std::string bucket)
      : Signer(std::move(credentials)), scope_{std::move(region), "oss"}, bucket_(std::move(bucket)) {}

 protected:
  void sign_with(HttpRequest& req, const Credentials& keys,
                 std::chrono::system_clock::time_point now) const override {
    signing::oss_v4_sign_headers(req, keys, scope_, bucket_, now, {});
  }

 private:
  signing::OssV4Scope scope_;
  std::string bucket_;
};

}  // namespace

std::unique_ptr<Signer> make_oss_v4_signer(std::shared_ptr<CredentialProvider> credentials,
                                           std::string region, std::string bucket) {
  return std::make_unique<OssV4Signer>(std::move(credentials), std::move(region),
                                       std::move(bucket));
}

std::unique_ptr<Signer> make_oss_v4_signer(Credentials credentials, std::string region,
                                           std::string bucket) {
  return make_oss_v4_signer(CredentialProvider::fixed(std::move(credentials)), std::move(region),
                            std::move(bucket));
}

}  // namespace shoal
