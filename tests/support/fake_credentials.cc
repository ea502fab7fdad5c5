#include "tests/support/fake_credentials.h"

#include <cinttypes>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "store/credentials/provider.h"
#include "store/hash.h"
#include "store/sign/signing_detail.h"
#include "store/url_encode.h"

namespace shoal::test {
namespace {

using Request = HttpTestServer::Request;
using Reply = HttpTestServer::Reply;
using Fields = std::map<std::string, std::string>;

Fields parse_fields(std::string_view text, bool form) {
  Fields out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('&', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view pair = text.substr(pos, end - pos);
    pos = end + 1;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto key = uri_decode(pair.substr(0, eq), form);
    auto value = uri_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), form);
    if (key.ok() && value.ok()) out[*key] = *value;
  }
  return out;
}

std::string field(const Fields& f, const std::string& name) {
  auto it = f.find(name);
  return it == f.end() ? "" : it->second;
}

Reply json_reply(int status, const nlohmann::json& body) {
  return Reply{http_reply(status, body.dump(), "Content-Type: application/json\r\n")};
}

std::string random_hex(size_t bytes) {
  static std::atomic<uint64_t> counter{0};
  std::string seed = std::to_string(counter.fetch_add(1)) + "/" +
                     std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  return hex_encode(sha256(seed)).substr(0, bytes * 2);
}

std::optional<SystemTime> parse_amz_date(const std::string& text) {
  std::tm tm{};
  if (strptime(text.c_str(), "%Y%m%dT%H%M%SZ", &tm) == nullptr) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

// ---- IssuedKeys -------------------------------------------------------------------------

Credentials IssuedKeys::issue(std::chrono::seconds lifetime, SystemTime* expiration) {
  auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  Credentials keys{"ASIATEST" + random_hex(6), "secret-" + random_hex(16),
                   "token-" + random_hex(24)};
  std::lock_guard lock(mu_);
  ++issued_;
  SystemTime expires = now + lifetime;
  entries_[keys.access_key_id] = Entry{keys, expires};
  if (expiration) *expiration = expires;
  return keys;
}

void IssuedKeys::add_fixed(const Credentials& keys) {
  std::lock_guard lock(mu_);
  entries_[keys.access_key_id] = Entry{keys, std::nullopt};
}

void IssuedKeys::revoke(const std::string& access_key_id) {
  std::lock_guard lock(mu_);
  entries_.erase(access_key_id);
}

IssuedKeys::Verdict IssuedKeys::check(const std::string& access_key_id,
                                      const std::string& session_token,
                                      std::string* secret) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(access_key_id);
  if (it == entries_.end()) return Verdict::kUnknown;
  if (it->second.keys.session_token != session_token) return Verdict::kBadToken;
  if (it->second.expiration && *it->second.expiration <= std::chrono::system_clock::now())
    return Verdict::kExpired;
  *secret = it->second.keys.secret_access_key;
  return Verdict::kValid;
}

int IssuedKeys::issued() const {
  std::lock_guard lock(mu_);
  return issued_;
}

// ---- FakeCredentialServer -----------------------------------------------------------------

FakeCredentialServer::FakeCredentialServer(IssuedKeys& keys, Options options)
    : keys_(keys), options_(std::move(options)) {
  server_ = std::make_unique<HttpTestServer>([this](const Request& r) { return handle(r); });
}

Reply FakeCredentialServer::handle(const Request& r) {
  if (down_) {
    ++refused_while_down_;
    return Reply{http_reply(503, "Service Unavailable")};
  }
  std::string path = r.path();
  Fields query = parse_fields(r.query(), false);
  Fields form = parse_fields(r.body, true);
  auto issue = [&](SystemTime* expiration) {
    ++issued_;
    return keys_.issue(options_.lifetime, expiration);
  };

  // AWS STS, query API (form body).
  if (r.method == "POST" && field(form, "Action") == "AssumeRoleWithWebIdentity") {
    if (field(form, "Version") != "2011-06-15" || field(form, "RoleArn").empty() ||
        field(form, "RoleSessionName").empty())
      return Reply{http_reply(400, "<ErrorResponse><Error><Type>Sender</Type><Code>"
                                   "MissingParameter</Code><Message>missing Version, RoleArn or "
                                   "RoleSessionName</Message></Error></ErrorResponse>")};
    if (field(form, "WebIdentityToken") != options_.oidc_token)
      return Reply{http_reply(
          400, "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
               "<Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Couldn't retrieve "
               "verification key from your identity provider</Message></Error><RequestId>"
               "fake-request-1</RequestId></ErrorResponse>")};
    if (malformed_)
      return Reply{http_reply(200, "<AssumeRoleWithWebIdentityResponse><Result>")};
    SystemTime expires;
    Credentials c = issue(&expires);
    std::string xml =
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
        "  <AssumeRoleWithWebIdentityResult>\n"
        "    <SubjectFromWebIdentityToken>system:serviceaccount:default:shoal"
        "</SubjectFromWebIdentityToken>\n"
        "    <Audience>sts.amazonaws.com</Audience>\n"
        "    <AssumedRoleUser>\n"
        "      <Arn>arn:aws:sts::123456789012:assumed-role/shoal/" +
        field(form, "RoleSessionName") + "</Arn>\n"
        "      <AssumedRoleId>AROATEST:" + field(form, "RoleSessionName") + "</AssumedRoleId>\n"
        "    </AssumedRoleUser>\n"
        "    <Credentials>\n"
        "      <SessionToken>" + c.session_token + "</SessionToken>\n"
        "      <SecretAccessKey>" + c.secret_access_key + "</SecretAccessKey>\n"
        "      <Expiration>" + format_iso8601(expires) + "</Expiration>\n"
        "      <AccessKeyId>" + c.access_key_id + "</AccessKeyId>\n"
        "    </Credentials>\n"
        "    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.example</Provider>\n"
        "  </AssumeRoleWithWebIdentityResult>\n"
        "  <ResponseMetadata>\n"
        "    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>\n"
        "  </ResponseMetadata>\n"
        "</AssumeRoleWithWebIdentityResponse>\n";
    return Reply{http_reply(200, xml, "Content-Type: text/xml\r\n")};
  }

  // Alibaba STS, RPC API: common parameters in the query, the call's in the body.
  if (r.method == "POST" && field(query, "Action") == "AssumeRoleWithOIDC") {
    if (field(query, "Format") != "JSON" || field(query, "Version") != "2015-04-01" ||
        field(form, "RoleArn").empty() || field(form, "OIDCProviderArn").empty())
      return json_reply(400, {{"RequestId", "FAKE-1"},
                              {"Code", "MissingParameter"},
                              {"Message", "Format, Version, RoleArn or OIDCProviderArn missing"}});
    if (field(form, "OIDCToken") != options_.oidc_token)
      return json_reply(400, {{"RequestId", "FAKE-2"},
                              {"HostId", "sts.aliyuncs.com"},
                              {"Code", "AuthenticationFail.OIDCToken.Invalid"},
                              {"Message", "The specified OIDCToken is invalid."}});
    if (malformed_) return Reply{http_reply(200, "{\"RequestId\": \"x\", \"Credentials\": 7")};
    SystemTime expires;
    Credentials c = issue(&expires);
    return json_reply(200, {{"RequestId", "3D57EAD2-8723-1F26-B69C-F8707D8B565D"},
                            {"OIDCTokenInfo", {{"Subject", "system:serviceaccount:default:shoal"},
                                               {"Issuer", "https://oidc.example"},
                                               {"ClientIds", "sts.aliyuncs.com"}}},
                            {"AssumedRoleUser", {{"AssumedRoleId", "3000:shoal"},
                                                 {"Arn", field(form, "RoleArn")}}},
                            {"Credentials", {{"SecurityToken", c.session_token},
                                             {"Expiration", format_iso8601(expires)},
                                             {"AccessKeySecret", c.secret_access_key},
                                             {"AccessKeyId", c.access_key_id}}}});
  }

  // Metadata session tokens.
  if (r.method == "PUT" && path == "/latest/api/token") {
    if (r.header("X-aws-ec2-metadata-token-ttl-seconds") != nullptr)
      return Reply{http_reply(200, "imds-session-token")};
    if (r.header("X-aliyun-ecs-metadata-token-ttl-seconds") != nullptr)
      return Reply{http_reply(200, "ecs-session-token")};
    return Reply{http_reply(400, "missing ttl header")};
  }
  auto metadata = [&](const std::string& prefix, const char* token_header,
                      const std::string& token, bool aws) -> std::optional<Reply> {
    if (r.method != "GET" || !path.starts_with(prefix)) return std::nullopt;
    const std::string* sent = r.header(token_header);
    if (sent == nullptr || *sent != token) return Reply{http_reply(401, "")};
    std::string role = path.substr(prefix.size());
    if (role.empty()) return Reply{http_reply(200, options_.role)};
    if (role != options_.role) return Reply{http_reply(404, "")};
    if (malformed_) return Reply{http_reply(200, "<html>captive portal</html>")};
    SystemTime expires;
    Credentials c = issue(&expires);
    nlohmann::json j = {{"Code", "Success"},
                        {"LastUpdated", format_iso8601(std::chrono::system_clock::now())},
                        {"AccessKeyId", c.access_key_id},
                        {"Expiration", format_iso8601(expires)}};
    if (aws) {
      j["Type"] = "AWS-HMAC";
      j["SecretAccessKey"] = c.secret_access_key;
      j["Token"] = c.session_token;
    } else {
      j["AccessKeySecret"] = c.secret_access_key;
      j["SecurityToken"] = c.session_token;
    }
    return json_reply(200, j);
  };
  if (auto reply = metadata("/latest/meta-data/iam/security-credentials/",
                            "X-aws-ec2-metadata-token", "imds-session-token", true))
    return *reply;
  if (auto reply = metadata("/latest/meta-data/ram/security-credentials/",
                            "X-aliyun-ecs-metadata-token", "ecs-session-token", false))
    return *reply;
  return Reply{http_reply(404, "no such fake endpoint")};
}

// ---- VerifyingStore -----------------------------------------------------------------------

VerifyingStore::VerifyingStore(IssuedKeys& keys, std::string region)
    : keys_(keys), region_(std::move(region)) {
  server_ = std::make_unique<HttpTestServer>([this](const Request& r) { return handle(r); });
}

void VerifyingStore::put_object(const std::string& key, std::string bytes) {
  std::lock_guard lock(mu_);
  objects_[key] = std::move(bytes);
}

std::optional<std::string> VerifyingStore::object(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> VerifyingStore::refusals() const {
  std::lock_guard lock(mu_);
  return refusals_;
}

Reply VerifyingStore::refuse(const std::string& code, const std::string& message) {
  {
    std::lock_guard lock(mu_);
    refusals_.push_back(code);
  }
  return Reply{http_reply(403,
                          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code +
                              "</Code><Message>" + message +
                              "</Message><RequestId>VERIFY-1</RequestId></Error>",
                          "Content-Type: application/xml\r\n")};
}

Reply VerifyingStore::handle(const Request& r) {
  const std::string* auth = r.header("Authorization");
  if (auth == nullptr) return refuse("AccessDenied", "Anonymous access is forbidden");
  // "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders=a;b,
  //  Signature=hex"
  auto part = [&](const std::string& name) -> std::string {
    size_t at = auth->find(name + "=");
    if (at == std::string::npos) return "";
    at += name.size() + 1;
    size_t end = auth->find_first_of(", ", at);
    return auth->substr(at, end == std::string::npos ? std::string::npos : end - at);
  };
  std::string credential = part("Credential");
  std::string access_key_id = credential.substr(0, credential.find('/'));
  std::string signed_headers = part("SignedHeaders");
  std::string signature = part("Signature");
  const std::string* token_header = r.header("X-Amz-Security-Token");
  std::string token = token_header ? *token_header : "";
  std::string secret;
  switch (keys_.check(access_key_id, token, &secret)) {
    case IssuedKeys::Verdict::kUnknown:
      return refuse("InvalidAccessKeyId",
                    "The AWS Access Key Id you provided does not exist in our records.");
    case IssuedKeys::Verdict::kBadToken:
      return refuse("InvalidToken", "The provided token is malformed or otherwise invalid.");
    case IssuedKeys::Verdict::kExpired:
      return refuse("ExpiredToken", "The provided token has expired.");
    case IssuedKeys::Verdict::kValid: break;
  }
  const std::string* date = r.header("X-Amz-Date");
  auto when = date ? parse_amz_date(*date) : std::nullopt;
  if (!when) return refuse("AccessDenied", "no X-Amz-Date");

  // The request as the client signed it, then signed again here with the issued secret.
  HttpRequest check;
  check.method = r.method;
  check.scheme = "http";
  const std::string* host = r.header("Host");
  check.host = host ? *host : "";
  auto path = uri_decode(r.path());
  if (!path.ok()) return refuse("AccessDenied", "bad path");
  check.path = *path;
  for (const auto& [k, v] : parse_fields(r.query(), false)) check.query.emplace_back(k, v);
  size_t pos = 0;
  while (pos <= signed_headers.size()) {
    size_t end = std::min(signed_headers.find(';', pos), signed_headers.size());
    std::string name = signed_headers.substr(pos, end - pos);
    pos = end + 1;
    if (name.empty()) continue;
    if (const std::string* v = r.header(name)) check.headers.emplace_back(name, *v);
  }
  // Repeated query keys are not used by the store; the parse above keeps one of each.
  signing::Steps steps = signing::sigv4_sign_headers(
      check, Credentials{access_key_id, secret, token}, {region_, "s3"}, *when, {});
  if (steps.signature != signature)
    return refuse("SignatureDoesNotMatch",
                  "The request signature we calculated does not match the signature you "
                  "provided.");

  ++accepted_;
  std::string key = check.path.substr(1);  // "bkt/key"
  size_t slash = key.find('/');
  key = slash == std::string::npos ? "" : key.substr(slash + 1);
  std::lock_guard lock(mu_);
  if (r.method == "PUT") {
    std::string etag = hex_encode(md5(r.body));
    objects_[key] = r.body;
    return Reply{http_reply(200, "", "ETag: \"" + etag + "\"\r\n")};
  }
  auto it = objects_.find(key);
  if (it == objects_.end())
    return Reply{http_reply(404, "<Error><Code>NoSuchKey</Code><Message>The specified key does "
                                 "not exist.</Message></Error>")};
  std::string etag = "\"" + hex_encode(md5(it->second)) + "\"";
  if (const std::string* if_match = r.header("If-Match"); if_match && *if_match != etag)
    return Reply{http_reply(412,
                            "<Error><Code>PreconditionFailed</Code><Message>At least one of the "
                            "pre-conditions you specified did not hold</Message></Error>")};
  if (r.method == "HEAD")
    return Reply{"HTTP/1.1 200 X\r\nContent-Length: " + std::to_string(it->second.size()) +
                 "\r\nETag: " + etag + "\r\n\r\n"};
  // "bytes=first-[last]", as the store and the engine ask; anything else gets the whole object.
  uint64_t first = 0, last = 0, size = it->second.size();
  const std::string* range = r.header("Range");
  if (range && size > 0 && std::sscanf(range->c_str(), "bytes=%" SCNu64 "-", &first) == 1 &&
      first < size) {
    size_t dash = range->find('-');
    last = dash + 1 < range->size() ? std::stoull(range->substr(dash + 1)) : size - 1;
    last = std::min(last, size - 1);
    return Reply{http_reply(206, std::string_view(it->second).substr(first, last - first + 1),
                            "ETag: " + etag + "\r\nContent-Range: bytes " +
                                std::to_string(first) + "-" + std::to_string(last) + "/" +
                                std::to_string(size) + "\r\n")};
  }
  return Reply{http_reply(200, it->second, "ETag: " + etag + "\r\n")};
}

}  // namespace shoal::test
