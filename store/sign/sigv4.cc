// AWS Signature Version 4: header form (Authorization) and query form (presigned URLs).
#include <algorithm>

#include "store/hash.h"
#include "store/sign/canonical.h"
#include "store/sign/signer.h"
#include "store/sign/signing_detail.h"
#include "store/url_encode.h"

namespace shoal {
namespace signing {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

// Headers a proxy or the HTTP client may add, drop or rewrite in transit; signing them would
// make the signature fragile.
bool is_unsigned_header(std::string_view lower_name) {
  static constexpr std::string_view kNames[] = {"authorization",     "user-agent",
                                                "expect",            "connection",
                                                "transfer-encoding", "x-amzn-trace-id"};
  return std::find(std::begin(kNames), std::end(kNames), lower_name) != std::end(kNames);
}

// RFC 3986 remove_dot_segments, also dropping empty segments ("//"); a path that ends in a
// directory ("/", "/.", "/..") keeps its trailing slash.
std::string normalized_path(std::string_view path) {
  std::vector<std::string_view> kept;
  std::string_view last;
  for (size_t pos = 0; pos <= path.size();) {
    size_t end = std::min(path.find('/', pos), path.size());
    last = path.substr(pos, end - pos);
    if (last == "..") {
      if (!kept.empty()) kept.pop_back();
    } else if (!last.empty() && last != ".") {
      kept.push_back(last);
    }
    pos = end + 1;
  }
  std::string out = "/";
  for (size_t i = 0; i < kept.size(); ++i) {
    out += kept[i];
    if (i + 1 < kept.size()) out += '/';
  }
  bool ends_in_directory = last.empty() || last == "." || last == "..";
  if (ends_in_directory && !kept.empty()) out += '/';
  return out;
}

CanonicalHeaderList headers_to_sign(const HttpRequest& req) {
  CanonicalHeaderList list;
  if (req.header("host") == nullptr) list.emplace_back("host", req.host);
  for (const auto& [name, value] : req.headers) {
    std::string lower = to_lower(name);
    if (!is_unsigned_header(lower)) list.emplace_back(std::move(lower), trim_and_collapse(value));
  }
  return merge_sorted(std::move(list));
}

std::string names_of(const CanonicalHeaderList& headers) {
  std::string names;
  for (const auto& [name, value] : headers) {
    if (!names.empty()) names += ';';
    names += name;
  }
  return names;
}

std::string payload_hash(const HttpRequest& req, const SigV4Options& options) {
  if (options.payload == SigV4Options::Payload::kSha256 && !req.body.is_file()) {
    return sha256_hex(req.body.data);
  }
  return std::string(kUnsignedPayload);
}

Steps compute(const HttpRequest& req, const Credentials& credentials, const SigV4Scope& scope,
              TimePoint now, const CanonicalHeaderList& headers, std::string_view payload,
              const SigV4Options& options) {
  Steps steps;
  std::string& cr = steps.canonical_request;
  cr = req.method + '\n' + sigv4_canonical_uri(req.path, options) + '\n' +
       sigv4_canonical_query(req.query) + '\n';
  for (const auto& [name, value] : headers) cr += name + ':' + value + '\n';
  cr += '\n' + names_of(headers) + '\n';
  cr += payload;

  std::string amz_date = iso8601_basic(now);
  steps.string_to_sign = std::string(kAlgorithm) + '\n' + amz_date + '\n' +
                         sigv4_scope(now, scope) + '\n' + sha256_hex(cr);
  std::string key = derive_key(
      "AWS4" + credentials.secret_access_key,
      {std::string_view(amz_date).substr(0, 8), scope.region, scope.service, "aws4_request"});
  steps.signature = hex_encode(hmac_sha256(key, steps.string_to_sign));
  return steps;
}

}  // namespace

std::string sigv4_canonical_uri(std::string_view raw_path, const SigV4Options& options) {
  std::string path = raw_path.empty() ? "/" : std::string(raw_path);
  if (options.normalize_path) path = normalized_path(path);
  std::string once = uri_encode(path, false);
  return options.double_encode_path ? uri_encode(once, false) : once;
}

std::string sigv4_canonical_query(const QueryList& query) {
  QueryList encoded;
  for (const auto& [key, value] : query) {
    encoded.emplace_back(uri_encode(key, true), uri_encode(value, true));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [key, value] : encoded) {
    if (!out.empty()) out += '&';
    out += key + '=' + value;
  }
  return out;
}

std::string sigv4_scope(TimePoint now, const SigV4Scope& scope) {
  return iso8601_basic(now).substr(0, 8) + '/' + scope.region + '/' + scope.service +
         "/aws4_request";
}

Steps sigv4_sign_headers(HttpRequest& req, const Credentials& credentials, const SigV4Scope& scope,
                         TimePoint now, const SigV4Options& options) {
  req.set_header("X-Amz-Date", iso8601_basic(now));
  std::string payload = payload_hash(req, options);
  if (options.content_sha256_header) req.set_header("X-Amz-Content-Sha256", payload);
  bool has_token = !credentials.session_token.empty();
  if (has_token && options.sign_session_token) {
    req.set_header("X-Amz-Security-Token", credentials.session_token);
  }
  CanonicalHeaderList headers = headers_to_sign(req);
  Steps steps = compute(req, credentials, scope, now, headers, payload, options);
  req.set_header("Authorization",
                 std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + '/' +
                     sigv4_scope(now, scope) + ", SignedHeaders=" + names_of(headers) +
                     ", Signature=" + steps.signature);
  if (has_token && !options.sign_session_token) {
    req.set_header("X-Amz-Security-Token", credentials.session_token);
  }
  return steps;
}

Steps sigv4_presign(HttpRequest& req, const Credentials& credentials, const SigV4Scope& scope,
                    TimePoint now, std::chrono::seconds expires, const SigV4Options& options) {
  CanonicalHeaderList headers = headers_to_sign(req);
  req.query.emplace_back("X-Amz-Algorithm", kAlgorithm);
  req.query.emplace_back("X-Amz-Credential",
                         credentials.access_key_id + '/' + sigv4_scope(now, scope));
  req.query.emplace_back("X-Amz-Date", iso8601_basic(now));
  req.query.emplace_back("X-Amz-Expires", std::to_string(expires.count()));
  req.query.emplace_back("X-Amz-SignedHeaders", names_of(headers));
  bool has_token = !credentials.session_token.empty();
  if (has_token && options.sign_session_token) {
    req.query.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  Steps steps = compute(req, credentials, scope, now, headers, payload_hash(req, options), options);
  if (has_token && !options.sign_session_token) {
    req.query.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  req.query.emplace_back("X-Amz-Signature", steps.signature);
  return steps;
}

}  // namespace signing

namespace {

class SigV4Signer : public Signer {
 public:
  SigV4Signer(std::shared_ptr<CredentialProvider> credentials, signing::SigV4Scope scope)
      : Signer(std::move(credentials)), scope_(std::move(scope)) {}

 protected:
  void sign_with(HttpRequest& req, const Credentials& keys,
                 std::chrono::system_clock::time_point now) const override {
    signing::sigv4_sign_headers(req, keys, scope_, now, {});
  }

 private:
  signing::SigV4Scope scope_;
};

}  // namespace

std::unique_ptr<Signer> make_sigv4_signer(std::shared_ptr<CredentialProvider> credentials,
                                          std::string region, std::string service) {
  return std::make_unique<SigV4Signer>(std::move(credentials),
                                       signing::SigV4Scope{std::move(region), std::move(service)});
}

std::unique_ptr<Signer> make_sigv4_signer(Credentials credentials, std::string region,
                                          std::string service) {
  return make_sigv4_signer(CredentialProvider::fixed(std::move(credentials)), std::move(region),
                           std::move(service));
}

void presign_sigv4(HttpRequest& req, const Credentials& credentials, const std::string& region,
                   std::chrono::system_clock::time_point now, std::chrono::seconds expires,
                   const std::string& service) {
  if (credentials.empty()) return;
  signing::sigv4_presign(req, credentials, {region, service}, now, expires, {});
}

}  // namespace shoal
