#include "store/credentials/remote_sources.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include "store/credentials/http_fetch.h"

namespace shoal {
namespace {

using nlohmann::json;

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// A service may echo parts of a request in its message; a token must never reach a log.
std::string scrubbed(std::string text, const std::string& secret) {
  if (secret.size() < 8) return text;
  for (size_t at; (at = text.find(secret)) != std::string::npos;)
    text.replace(at, secret.size(), "(token)");
  return text;
}

// Long answers (an HTML error page from a proxy) are cut: the start says what it is.
std::string excerpt(std::string_view body) {
  std::string s = trim(body.substr(0, 200));
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s.empty() ? "(empty)" : s;
}

// A successful answer may hold keys even when it does not parse (a truncated body): it is
// described by its size only, never quoted.
std::string shape(std::string_view body) { return std::to_string(body.size()) + " bytes"; }

Result<std::string> read_token(const std::string& path, const std::string& variable) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return errno_error("the web identity token file " + path + " (" + variable +
                           "): check the service account token volume",
                       errno);
  std::ostringstream text;
  text << in.rdbuf();
  std::string token = trim(text.str());
  if (token.empty())
    return Error(ErrorKind::kInvalidArgument, "the web identity token file " + path + " (" +
                                                  variable + ") is empty");
  return token;
}

ErrorKind kind_for(int status, std::string_view code) {
  if (status == 429 || code.find("Throttl") != std::string_view::npos)
    return ErrorKind::kThrottled;
  if (status >= 500) return ErrorKind::kServer;
  return ErrorKind::kAccessDenied;
}

Error unreadable(const std::string& where, const std::string& why) {
  return Error(ErrorKind::kServer, where + ": cannot read the answer: " + why);
}

Result<SystemTime> expiration_of(const std::string& text, const std::string& where) {
  auto when = parse_expiration(text);
  if (!when) return unreadable(where, "Expiration '" + excerpt(text) + "' is not an ISO 8601 time");
  return *when;
}

std::string session_name_or_default(const std::string& name) {
  if (!name.empty()) return name;
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  return "shoal-" + std::to_string(secs);
}

FetchRequest request_with(const RemoteOptions& o) {
  FetchRequest r;
  r.connect_timeout = o.connect_timeout;
  r.timeout = o.timeout;
  r.verify_tls = o.verify_tls;
  r.ca_file = o.ca_file;
  return r;
}

class AwsWebIdentitySource final : public CredentialSource {
 public:
  AwsWebIdentitySource(WebIdentitySettings s, RemoteOptions o)
      : s_(std::move(s)), o_(std::move(o)) {}

  std::string describe() const override {
    return "AWS STS AssumeRoleWithWebIdentity at " + s_.endpoint + " for role " + s_.role_arn;
  }

  Result<ExpiringCredentials> fetch() override {
    SHOAL_ASSIGN(std::string token, read_token(s_.token_file, "AWS_WEB_IDENTITY_TOKEN_FILE"));
    std::vector<std::pair<std::string, std::string>> form = {
        {"Action", "AssumeRoleWithWebIdentity"},
        {"Version", "2011-06-15"},
        {"RoleArn", s_.role_arn},
        {"RoleSessionName", session_name_or_default(s_.session_name)},
        {"WebIdentityToken", token}};
    if (s_.duration_seconds > 0)
      form.emplace_back("DurationSeconds", std::to_string(s_.duration_seconds));
    FetchRequest r = request_with(o_);
    r.method = "POST";
    r.url = s_.endpoint + "/";
    r.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/xml"}};
    r.body = form_encode(form);
    auto answer = fetch_blocking(r);
    if (!answer.ok()) return answer.error().with_context(describe());
    auto parsed = parse_assume_role_with_web_identity(answer->status, answer->body, describe());
    if (!parsed.ok()) {
      Error e = parsed.error();
      e.message = scrubbed(e.message, token);
      if (e.kind == ErrorKind::kAccessDenied)
        e.message += " (check AWS_ROLE_ARN, the token in " + s_.token_file +
                     " and the role's trust policy)";
      return e;
    }
    return parsed;
  }

 private:
  WebIdentitySettings s_;
  RemoteOptions o_;
};

class AlibabaOidcSource final : public CredentialSource {
 public:
  AlibabaOidcSource(OidcSettings s, RemoteOptions o) : s_(std::move(s)), o_(std::move(o)) {}

  std::string describe() const override {
    return "Alibaba Cloud STS AssumeRoleWithOIDC at " + s_.endpoint + " for role " + s_.role_arn;
  }

  Result<ExpiringCredentials> fetch() override {
    SHOAL_ASSIGN(std::string token, read_token(s_.token_file, "ALIBABA_CLOUD_OIDC_TOKEN_FILE"));
    // The RPC API's common parameters go in the query, the call's own in a form body (so
    // the token never appears in a URL that a proxy or an error message could show).
    std::vector<std::pair<std::string, std::string>> query = {
        {"Action", "AssumeRoleWithOIDC"},
        {"Format", "JSON"},
        {"Version", "2015-04-01"},
        {"Timestamp", format_iso8601(std::chrono::system_clock::now())}};
    std::vector<std::pair<std::string, std::string>> form = {
        {"RoleArn", s_.role_arn},
        {"OIDCProviderArn", s_.provider_arn},
        {"OIDCToken", token},
        {"RoleSessionName", session_name_or_default(s_.session_name)},
        {"DurationSeconds", std::to_string(s_.duration_seconds)}};
    FetchRequest r = request_with(o_);
    r.method = "POST";
    r.url = s_.endpoint + "/?" + form_encode(query);
    r.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"}};
    r.body = form_encode(form);
    auto answer = fetch_blocking(r);
    if (!answer.ok()) return answer.error().with_context(describe());
    auto parsed = parse_assume_role_with_oidc(answer->status, answer->body, describe());
    if (!parsed.ok()) {
      Error e = parsed.error();
      e.message = scrubbed(e.message, token);
      if (e.kind == ErrorKind::kAccessDenied)
        e.message += " (check ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN, the "
                     "token in " + s_.token_file + " and the role's trust policy)";
      return e;
    }
    return parsed;
  }

 private:
  OidcSettings s_;
  RemoteOptions o_;
};

// ECS and EC2 differ in paths and header names only.
struct MetadataDialect {
  const char* name;              // for messages
  const char* credentials_path;  // role names below it
  const char* token_ttl_header;
  const char* token_header;
  bool token_required;  // IMDSv2: no token, no answer
};
constexpr MetadataDialect kEcs = {"the ECS instance metadata service (RAM role)",
                                  "/latest/meta-data/ram/security-credentials/",
                                  "X-aliyun-ecs-metadata-token-ttl-seconds",
                                  "X-aliyun-ecs-metadata-token", false};
constexpr MetadataDialect kImds = {"the EC2 instance metadata service (IMDSv2)",
                                   "/latest/meta-data/iam/security-credentials/",
                                   "X-aws-ec2-metadata-token-ttl-seconds",
                                   "X-aws-ec2-metadata-token", true};

class MetadataSource final : public CredentialSource {
 public:
  MetadataSource(const MetadataDialect& d, MetadataSettings s, RemoteOptions o)
      : d_(d), s_(std::move(s)), o_(std::move(o)) {}

  std::string describe() const override {
    return std::string(d_.name) + " at " + s_.endpoint;
  }

  Result<ExpiringCredentials> fetch() override {
    std::string token;
    {
      FetchRequest r = request_with(o_);
      r.method = "PUT";
      r.url = s_.endpoint + "/latest/api/token";
      r.headers = {{d_.token_ttl_header, "21600"}};
      auto answer = fetch_blocking(r);
      if (!answer.ok()) return with_hint(answer.error().with_context(describe()));
      if (answer->status == 200) {
        token = trim(answer->body);
      } else if (d_.token_required || answer->status >= 500) {
        ErrorKind kind = answer->status >= 500   ? ErrorKind::kServer
                         : answer->status == 404 ? ErrorKind::kNotFound
                                                 : ErrorKind::kAccessDenied;
        return with_hint(Error(kind, describe() + ": PUT /latest/api/token answered HTTP " +
                                         std::to_string(answer->status)));
      }
      // ECS in normal mode may not offer tokens: ask without one.
    }
    std::string role = s_.role;
    if (role.empty()) {
      SHOAL_ASSIGN(std::string names, get(d_.credentials_path, token));
      role = trim(names.substr(0, names.find('\n')));
      if (role.empty())
        return Error(ErrorKind::kNotFound,
                     describe() + ": this instance has no role attached: attach one, or choose "
                                  "another credentials source");
    }
    SHOAL_ASSIGN(std::string body, get(std::string(d_.credentials_path) + role, token));
    return parse_metadata_credentials(body, describe() + " for role " + role);
  }

 private:
  // What to check when the service is not there or not what it should be.
  static Error with_hint(Error e) {
    e.message += " (is this a cloud instance with a role attached? set metadata_endpoint or "
                 "choose another credentials source)";
    return e;
  }

  Result<std::string> get(const std::string& path, const std::string& token) {
    FetchRequest r = request_with(o_);
    r.url = s_.endpoint + path;
    if (!token.empty()) r.headers = {{d_.token_header, token}};
    auto answer = fetch_blocking(r);
    if (!answer.ok()) return with_hint(answer.error().with_context(describe()));
    if (answer->status == 404)
      return Error(ErrorKind::kNotFound, describe() + ": GET " + path +
                                             " answered 404: no such role on this instance");
    if (answer->status != 200)
      return Error(kind_for(answer->status, ""), describe() + ": GET " + path + " answered HTTP " +
                                                     std::to_string(answer->status));
    return std::move(answer->body);
  }

  const MetadataDialect& d_;
  MetadataSettings s_;
  RemoteOptions o_;
};

}  // namespace

Result<ExpiringCredentials> parse_assume_role_with_web_identity(int status, std::string_view body,
                                                                const std::string& where) {
  pugi::xml_document doc;
  bool xml = doc.load_buffer(body.data(), body.size());
  if (status != 200) {
    pugi::xml_node err = doc.child("ErrorResponse").child("Error");
    std::string code = err.child("Code").text().as_string();
    std::string message = err.child("Message").text().as_string();
    Error e(kind_for(status, code),
            where + ": " + (code.empty() ? "HTTP " + std::to_string(status) + ": " + excerpt(body)
                                         : code + ": " + message));
    e.http_status = status;
    e.code = code;
    e.request_id = doc.child("ErrorResponse").child("RequestId").text().as_string();
    return e;
  }
  if (!xml) return unreadable(where, "not XML (" + shape(body) + ")");
  pugi::xml_node creds = doc.child("AssumeRoleWithWebIdentityResponse")
                             .child("AssumeRoleWithWebIdentityResult")
                             .child("Credentials");
  if (!creds) return unreadable(where, "no AssumeRoleWithWebIdentityResult/Credentials element");
  ExpiringCredentials out;
  out.credentials.access_key_id = trim(creds.child("AccessKeyId").text().as_string());
  out.credentials.secret_access_key = trim(creds.child("SecretAccessKey").text().as_string());
  out.credentials.session_token = trim(creds.child("SessionToken").text().as_string());
  if (out.credentials.access_key_id.empty() || out.credentials.secret_access_key.empty() ||
      out.credentials.session_token.empty())
    return unreadable(where, "Credentials lacks AccessKeyId, SecretAccessKey or SessionToken");
  SHOAL_ASSIGN(out.expiration,
               expiration_of(trim(creds.child("Expiration").text().as_string()), where));
  return out;
}

Result<ExpiringCredentials> parse_assume_role_with_oidc(int status, std::string_view body,
                                                        const std::string& where) {
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (status != 200) {
    std::string code, message, request_id;
    if (doc.is_object()) {
      code = doc.value("Code", "");
      message = doc.value("Message", "");
      request_id = doc.value("RequestId", "");
    }
    Error e(kind_for(status, code),
            where + ": " + (code.empty() ? "HTTP " + std::to_string(status) + ": " + excerpt(body)
                                         : code + ": " + message));
    e.http_status = status;
    e.code = code;
    e.request_id = request_id;
    return e;
  }
  if (doc.is_discarded() || !doc.is_object())
    return unreadable(where, "not a JSON object (" + shape(body) + ")");
  auto it = doc.find("Credentials");
  if (it == doc.end() || !it->is_object()) return unreadable(where, "no Credentials object");
  const json& c = *it;
  auto field = [&](const char* name) -> std::string {
    auto f = c.find(name);
    return f != c.end() && f->is_string() ? trim(f->get<std::string>()) : "";
  };
  ExpiringCredentials out;
  out.credentials.access_key_id = field("AccessKeyId");
  out.credentials.secret_access_key = field("AccessKeySecret");
  out.credentials.session_token = field("SecurityToken");
  if (out.credentials.access_key_id.empty() || out.credentials.secret_access_key.empty() ||
      out.credentials.session_token.empty())
    return unreadable(where, "Credentials lacks AccessKeyId, AccessKeySecret or SecurityToken");
  SHOAL_ASSIGN(out.expiration, expiration_of(field("Expiration"), where));
  return out;
}

Result<ExpiringCredentials> parse_metadata_credentials(std::string_view body,
                                                       const std::string& where) {
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object())
    return unreadable(where, "not a JSON object (" + shape(body) + ")");
  auto field = [&](const char* name) -> std::string {
    auto f = doc.find(name);
    return f != doc.end() && f->is_string() ? trim(f->get<std::string>()) : "";
  };
  if (std::string code = field("Code"); !code.empty() && code != "Success")
    return Error(ErrorKind::kAccessDenied,
                 where + ": the service answered Code " + code + " instead of Success");
  ExpiringCredentials out;
  out.credentials.access_key_id = field("AccessKeyId");
  out.credentials.secret_access_key = field("AccessKeySecret");
  if (out.credentials.secret_access_key.empty())
    out.credentials.secret_access_key = field("SecretAccessKey");
  out.credentials.session_token = field("SecurityToken");
  if (out.credentials.session_token.empty()) out.credentials.session_token = field("Token");
  if (out.credentials.access_key_id.empty() || out.credentials.secret_access_key.empty())
    return unreadable(where, "no AccessKeyId and secret in the answer");
  if (std::string exp = field("Expiration"); !exp.empty()) {
    SHOAL_ASSIGN(out.expiration, expiration_of(exp, where));
  }
  return out;
}

std::unique_ptr<CredentialSource> make_aws_web_identity_source(WebIdentitySettings settings,
                                                               RemoteOptions options) {
  return std::make_unique<AwsWebIdentitySource>(std::move(settings), std::move(options));
}

std::unique_ptr<CredentialSource> make_alibaba_oidc_source(OidcSettings settings,
                                                           RemoteOptions options) {
  return std::make_unique<AlibabaOidcSource>(std::move(settings), std::move(options));
}

std::unique_ptr<CredentialSource> make_ecs_ram_role_source(MetadataSettings settings,
                                                           RemoteOptions options) {
  return std::make_unique<MetadataSource>(kEcs, std::move(settings), std::move(options));
}

std::unique_ptr<CredentialSource> make_imds_source(MetadataSettings settings,
                                                   RemoteOptions options) {
  return std::make_unique<MetadataSource>(kImds, std::move(settings), std::move(options));
}

}  // namespace shoal
