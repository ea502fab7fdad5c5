#include "store/config.h"

#include "common/toml_config.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

#include "store/uri.h"

namespace shoal {
namespace {

Status read_string(const toml::node& v, std::string_view where, std::optional<std::string>& out) {
  const auto* s = v.as_string();
  if (s == nullptr) return config_error(where, "must be a string");
  out = s->get();
  return {};
}

Status read_bool(const toml::node& v, std::string_view where, std::optional<bool>& out) {
  const auto* b = v.as_boolean();
  if (b == nullptr) return config_error(where, "must be true or false");
  out = b->get();
  return {};
}

Status read_positive(const toml::node& v, std::string_view where, std::optional<int64_t>& out) {
  const auto* i = v.as_integer();
  if (i == nullptr || i->get() < 1) return config_error(where, "must be a positive integer");
  out = i->get();
  return {};
}

Status read_addressing(const toml::node& v, std::string_view where,
                       std::optional<StoreConfig::Addressing>& out) {
  std::optional<std::string> s;
  SHOAL_TRY(read_string(v, where, s));
  if (*s == "auto") out = StoreConfig::Addressing::kAuto;
  else if (*s == "path") out = StoreConfig::Addressing::kPath;
  else if (*s == "virtual-hosted") out = StoreConfig::Addressing::kVirtualHosted;
  else return config_error(where, "must be \"auto\", \"path\" or \"virtual-hosted\"");
  return {};
}

Status read_signature(const toml::node& v, std::string_view where,
                      std::optional<StoreConfig::OssSignature>& out) {
  std::optional<std::string> s;
  SHOAL_TRY(read_string(v, where, s));
  if (*s == "v4") out = StoreConfig::OssSignature::kV4;
  else if (*s == "v1") out = StoreConfig::OssSignature::kV1;
  else return config_error(where, "must be \"v4\" or \"v1\"");
  return {};
}

Status apply_setting(std::string_view key, const toml::node& v, std::string_view where,
                     StoreFileSettings& s) {
  if (key == "endpoint") return read_string(v, where, s.endpoint);
  if (key == "region") return read_string(v, where, s.region);
  if (key == "internal") return read_bool(v, where, s.internal);
  if (key == "addressing") return read_addressing(v, where, s.addressing);
  if (key == "signature") return read_signature(v, where, s.signature);
  if (key == "access_key_id") return read_string(v, where, s.access_key_id);
  if (key == "access_key_secret" || key == "secret_access_key")
    return read_string(v, where, s.access_key_secret);
  if (key == "session_token") return read_string(v, where, s.session_token);
  if (key == "access_key_id_env") return read_string(v, where, s.access_key_id_env);
  if (key == "secret_env") return read_string(v, where, s.secret_env);
  if (key == "session_token_env") return read_string(v, where, s.session_token_env);
  if (key == "retries") return read_positive(v, where, s.retries);
  if (key == "retry_base_ms") return read_positive(v, where, s.retry_base_ms);
  if (key == "retry_cap_ms") return read_positive(v, where, s.retry_cap_ms);
  if (key == "connections") return read_positive(v, where, s.connections);
  if (key == "connect_timeout_ms") return read_positive(v, where, s.connect_timeout_ms);
  if (key == "request_timeout_ms") return read_positive(v, where, s.request_timeout_ms);
  if (key == "verify_tls") return read_bool(v, where, s.verify_tls);
  if (key == "ca_file") return read_string(v, where, s.ca_file);
  if (key == "credentials") {
    SHOAL_TRY(read_string(v, where, s.credentials));
    if (!parse_credential_mode(*s.credentials))
      return config_error(where, "must be \"auto\", \"static\", \"credentials-dir\", "
                                 "\"profile\", \"web-identity\", \"ecs-ram-role\", \"imds\" "
                                 "or \"anonymous\"");
    return {};
  }
  if (key == "credentials_dir") return read_string(v, where, s.credentials_dir);
  if (key == "profile") return read_string(v, where, s.profile);
  if (key == "sts_endpoint") return read_string(v, where, s.sts_endpoint);
  if (key == "metadata_endpoint") return read_string(v, where, s.metadata_endpoint);
  if (key == "metadata_role") return read_string(v, where, s.metadata_role);
  return config_error(where, "unknown setting");
}

bool is_scheme_table(std::string_view key) { return key == "oss" || key == "s3" || key == "file"; }

// Applies one store table; `nested` tables ([store.oss] ...) are skipped here and applied after.
Status apply_table(const toml::table& table, std::string_view origin, std::string_view name,
                   StoreFileSettings& s) {
  for (const auto& [key, node] : table) {
    if (node.is_table() && is_scheme_table(key.str())) continue;
    std::string where = std::string(origin) + ": [" + std::string(name) + "] " +
                        std::string(key.str());
    SHOAL_TRY(apply_setting(key.str(), node, where, s));
  }
  return {};
}

std::optional<std::string> first_of(std::initializer_list<std::optional<std::string>> sources) {
  for (const auto& s : sources)
    if (s && !s->empty()) return s;
  return std::nullopt;
}

// "oss-cn-hangzhou.aliyuncs.com" or "oss-cn-hangzhou-internal.aliyuncs.com" → "cn-hangzhou".
std::optional<std::string> oss_region_from_endpoint(std::string_view endpoint) {
  size_t host = endpoint.find("://");
  std::string_view h = endpoint.substr(host == std::string_view::npos ? 0 : host + 3);
  constexpr std::string_view kSuffix = ".aliyuncs.com";
  if (!h.starts_with("oss-") || !h.ends_with(kSuffix)) return std::nullopt;
  std::string_view region = h.substr(4, h.size() - 4 - kSuffix.size());
  if (region.ends_with("-internal")) region.remove_suffix(std::string_view("-internal").size());
  if (region.empty() || region.find('.') != std::string_view::npos) return std::nullopt;
  return std::string(region);
}

Status resolve_oss_location(const StoreFlags& flags, const StoreFileSettings& file,
                            const EnvLookup& env, StoreConfig& c) {
  auto endpoint = first_of({flags.endpoint, file.endpoint, env("OSS_ENDPOINT")});
  auto region = first_of({flags.region, file.region, env("OSS_REGION")});
  // ossutil and the console write regions as "oss-cn-hangzhou"; the API wants "cn-hangzhou".
  if (region && region->starts_with("oss-")) region = region->substr(4);
  if (!region && endpoint) region = oss_region_from_endpoint(*endpoint);
  if (!endpoint && region) {
    endpoint = "https://oss-" + *region + (file.internal.value_or(false) ? "-internal" : "") +
               ".aliyuncs.com";
  }
  if (!endpoint)
    return Error(ErrorKind::kInvalidArgument,
                 "oss:// needs a region or an endpoint: pass --region or --endpoint, set them in "
                 "the [store] table of the config file, or set OSS_REGION / OSS_ENDPOINT");
  if (!region && c.oss_signature == StoreConfig::OssSignature::kV4)
    return Error(ErrorKind::kInvalidArgument,
                 "oss:// V4 signing needs a region and none can be derived from endpoint " +
                     *endpoint + ": pass --region, set region in the config, or set OSS_REGION");
  SHOAL_ASSIGN(c.endpoint, normalize_endpoint(*endpoint));
  c.region = region.value_or("");
  return {};
}

Status resolve_s3_location(const StoreFlags& flags, const StoreFileSettings& file,
                           const EnvLookup& env, StoreConfig& c) {
  auto region = first_of({flags.region, file.region, env("AWS_REGION"), env("AWS_DEFAULT_REGION")})
                    .value_or("us-east-1");
  auto endpoint = first_of({flags.endpoint, file.endpoint, env("AWS_ENDPOINT_URL")})
                      .value_or("https://s3." + region + ".amazonaws.com");
  SHOAL_ASSIGN(c.endpoint, normalize_endpoint(endpoint));
  c.region = region;
  return {};
}

Result<std::string> lookup_named(const EnvLookup& env, const std::optional<std::string>& name,
                                 std::string_view setting) {
  if (!name) return std::string();
  auto value = env(*name);
  if (!value || value->empty())
    return Error(ErrorKind::kInvalidArgument, "the config file's " + std::string(setting) +
                                                  " names variable " + *name +
                                                  ", which is not set");
  return *value;
}

Result<Credentials> credentials_from_file(const StoreFileSettings& file, const EnvLookup& env) {
  Credentials c;
  c.access_key_id = file.access_key_id.value_or("");
  c.secret_access_key = file.access_key_secret.value_or("");
  c.session_token = file.session_token.value_or("");
  if (c.access_key_id.empty()) {
    SHOAL_ASSIGN(c.access_key_id, lookup_named(env, file.access_key_id_env, "access_key_id_env"));
  }
  if (c.secret_access_key.empty()) {
    SHOAL_ASSIGN(c.secret_access_key, lookup_named(env, file.secret_env, "secret_env"));
  }
  if (c.session_token.empty()) {
    SHOAL_ASSIGN(c.session_token, lookup_named(env, file.session_token_env, "session_token_env"));
  }
  return c;
}

Credentials credentials_from_env(ObjectUri::Scheme scheme, const EnvLookup& env) {
  bool oss = scheme == ObjectUri::Scheme::kOss;
  Credentials c;
  c.access_key_id = env(oss ? "OSS_ACCESS_KEY_ID" : "AWS_ACCESS_KEY_ID").value_or("");
  c.secret_access_key = env(oss ? "OSS_ACCESS_KEY_SECRET" : "AWS_SECRET_ACCESS_KEY").value_or("");
  c.session_token = env(oss ? "OSS_SESSION_TOKEN" : "AWS_SESSION_TOKEN").value_or("");
  return c;
}

Result<Credentials> resolve_credentials(ObjectUri::Scheme scheme, const StoreFileSettings& file,
                                        const EnvLookup& env) {
  SHOAL_ASSIGN(Credentials c, credentials_from_file(file, env));
  std::string source = "the config file";
  if (c.access_key_id.empty() && c.secret_access_key.empty()) {
    c = credentials_from_env(scheme, env);
    source = scheme == ObjectUri::Scheme::kOss ? "OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET"
                                               : "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY";
  }
  if (c.access_key_id.empty() != c.secret_access_key.empty())
    return Error(ErrorKind::kInvalidArgument,
                 "incomplete credentials from " + source +
                     ": an access key id and its secret must be given together");
  return c;
}

void apply_tuning(const StoreFileSettings& file, StoreConfig& c) {
  using std::chrono::milliseconds;
  if (file.retries) c.retry.max_attempts = static_cast<int>(*file.retries);
  if (file.retry_base_ms) c.retry.base = milliseconds(*file.retry_base_ms);
  if (file.retry_cap_ms) c.retry.cap = milliseconds(*file.retry_cap_ms);
  if (file.connections) c.max_connections = static_cast<int>(*file.connections);
  if (file.connect_timeout_ms) c.connect_timeout = milliseconds(*file.connect_timeout_ms);
  if (file.request_timeout_ms) c.request_timeout = milliseconds(*file.request_timeout_ms);
  if (file.verify_tls) c.verify_tls = *file.verify_tls;
}

}  // namespace

EnvLookup process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

EnvLookup environment_of(std::map<std::string, std::string, std::less<>> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Result<std::string> normalize_endpoint(std::string_view endpoint) {
  std::string e(endpoint);
  if (e.find("://") == std::string::npos) e = "https://" + e;
  size_t host = e.find("://") + 3;
  while (e.size() > host && e.ends_with('/')) e.pop_back();
  if (!e.starts_with("https://") && !e.starts_with("http://"))
    return Error(ErrorKind::kInvalidArgument,
                 "endpoint " + e + ": only http:// and https:// endpoints are supported");
  if (e.size() == host)
    return Error(ErrorKind::kInvalidArgument,
                 "endpoint '" + std::string(endpoint) + "' has no host");
  return e;
}

Result<StoreFileSettings> parse_store_settings(std::string_view toml_text, std::string_view origin,
                                               ObjectUri::Scheme scheme) {
  SHOAL_ASSIGN(toml::table doc, parse_toml(toml_text, origin));
  StoreFileSettings s;
  const toml::node* store = doc.get("store");
  if (store == nullptr) return s;
  const toml::table* table = store->as_table();
  if (table == nullptr) return config_error(origin, "store must be a table ([store])");
  SHOAL_TRY(apply_table(*table, origin, "store", s));
  std::string nested(scheme_name(scheme));
  if (const toml::table* sub = table->get_as<toml::table>(nested)) {
    SHOAL_TRY(apply_table(*sub, origin, "store." + nested, s));
  }
  return s;
}

Result<StoreFileSettings> load_store_settings(const std::string& path, ObjectUri::Scheme scheme) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno_error("config file " + path, errno);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return errno_error("reading config file " + path, errno);
  return parse_store_settings(text.str(), path, scheme);
}

Result<StoreConfig> resolve_store_config(ObjectUri::Scheme scheme, const StoreFlags& flags,
                                         const StoreFileSettings& file, const EnvLookup& env) {
  StoreConfig c;
  apply_tuning(file, c);
  if (scheme == ObjectUri::Scheme::kFile) return c;  // a local tree needs no location or keys
  // A private CA (an on-premise store): the config's file, else the variable the AWS tools read.
  if (file.ca_file) c.ca_file = *file.ca_file;
  else if (auto bundle = env("AWS_CA_BUNDLE"); bundle && !bundle->empty()) c.ca_file = *bundle;
  if (!c.ca_file.empty() && ::access(c.ca_file.c_str(), R_OK) != 0)
    return errno_error("the CA file " + c.ca_file + " (ca_file or AWS_CA_BUNDLE)", errno);
  c.addressing = flags.addressing.value_or(file.addressing.value_or(c.addressing));
  if (flags.oss_v1) c.oss_signature = StoreConfig::OssSignature::kV1;
  else c.oss_signature = file.signature.value_or(c.oss_signature);
  if (scheme == ObjectUri::Scheme::kOss) {
    SHOAL_TRY(resolve_oss_location(flags, file, env, c));
  } else {
    SHOAL_TRY(resolve_s3_location(flags, file, env, c));
  }
  SHOAL_ASSIGN(Credentials explicit_keys, resolve_credentials(scheme, file, env));
  CredentialChainSettings chain;
  chain.mode = file.credentials;
  chain.credentials_dir = file.credentials_dir;
  chain.profile = file.profile;
  chain.sts_endpoint = file.sts_endpoint;
  chain.metadata_endpoint = file.metadata_endpoint;
  chain.metadata_role = file.metadata_role;
  chain.region = c.region;
  chain.verify_tls = c.verify_tls;
  chain.ca_file = c.ca_file;
  SHOAL_ASSIGN(std::shared_ptr<CredentialProvider> provider,
               resolve_credential_chain(scheme, explicit_keys, chain, env));
  // Fixed keys stay plain Credentials (what the store used before the chain existed); only
  // keys that can change need the provider on every request.
  if (provider && provider->refreshable()) c.credential_provider = std::move(provider);
  else if (provider) c.credentials = *provider->current();
  return c;
}

Result<StoreConfig> resolve_store_config(ObjectUri::Scheme scheme, const StoreFlags& flags,
                                         const EnvLookup& env) {
  StoreFileSettings file;
  if (!flags.config_path.empty()) {
    SHOAL_ASSIGN(file, load_store_settings(flags.config_path, scheme));
  }
  return resolve_store_config(scheme, flags, file, env);
}

}  // namespace shoal
