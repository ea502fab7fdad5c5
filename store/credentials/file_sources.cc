#include "store/credentials/file_sources.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <fstream>
#include <sstream>

namespace shoal {
namespace {

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// kNotFound for a missing file; other failures as they are.
Result<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno_error(path, errno);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return errno_error("reading " + path, errno);
  return text.str();
}

// What a file looked like: a change of any field means it was replaced or rewritten.
struct FileStamp {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  int64_t mtime_ns = 0;
  off_t size = 0;
  bool operator==(const FileStamp&) const = default;
};

FileStamp stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return FileStamp{true, st.st_dev, st.st_ino,
                   static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                   st.st_size};
}

struct KeyNames {
  const char* id;
  const char* secret;
  const char* token;
};
constexpr std::array<KeyNames, 4> kStyles = {{
    {"akId", "akSecret", "securityToken"},
    {"AccessKeyId", "AccessKeySecret", "SecurityToken"},
    {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"},
    {"OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN"},
}};
constexpr std::array<const char*, 3> kExpirationNames = {"Expiration", "expiration",
                                                         "AWS_CREDENTIAL_EXPIRATION"};

class SecretDirSource final : public CredentialSource {
 public:
  explicit SecretDirSource(std::string dir) : dir_(std::move(dir)) {}

  std::string describe() const override { return "the credentials directory " + dir_; }
  bool watches_files() const override { return true; }

  bool changed() override { return signature() != last_; }

  Result<ExpiringCredentials> fetch() override {
    std::string sig = signature();
    // Read from the resolved "..data" target when there is one: kubelet never changes a
    // published version directory, it swaps the link, so these reads are of one version.
    std::string base = dir_;
    if (std::string data = resolved_data_dir(); !data.empty()) base = data;
    for (const KeyNames& names : kStyles) {
      auto id = read_small_file(base + "/" + names.id);
      if (!id.ok()) {
        if (id.error().kind == ErrorKind::kNotFound) continue;
        return id.error().with_context(describe());
      }
      auto secret = read_small_file(base + "/" + names.secret);
      if (!secret.ok())
        return Error(ErrorKind::kInvalidArgument,
                     describe() + " has " + names.id + " but no readable " + names.secret +
                         " (" + secret.error().message +
                         "): the Secret must hold the key id and its secret together");
      ExpiringCredentials out;
      out.credentials.access_key_id = trim(*id);
      out.credentials.secret_access_key = trim(*secret);
      if (auto token = read_small_file(base + "/" + names.token); token.ok())
        out.credentials.session_token = trim(*token);
      if (out.credentials.access_key_id.empty() || out.credentials.secret_access_key.empty())
        return Error(ErrorKind::kInvalidArgument,
                     describe() + ": " + names.id + " or " + names.secret +
                         " is empty: fill the Secret's values");
      for (const char* name : kExpirationNames) {
        auto text = read_small_file(base + "/" + name);
        if (!text.ok()) continue;
        auto when = parse_expiration(*text);
        if (!when)
          return Error(ErrorKind::kInvalidArgument,
                       describe() + ": " + name + " is not an ISO 8601 UTC time like " +
                           "2026-05-01T12:00:00Z");
        out.expiration = when;
        break;
      }
      last_ = sig;
      return out;
    }
    return Error(ErrorKind::kNotFound,
                 describe() + " holds none of akId, AccessKeyId, AWS_ACCESS_KEY_ID or "
                              "OSS_ACCESS_KEY_ID: mount the Secret there with one file per key, "
                              "or unset credentials_dir / SHOAL_CREDENTIALS_DIR");
  }

 private:
  std::string resolved_data_dir() const {
    char buf[4096];
    ssize_t n = ::readlink((dir_ + "/..data").c_str(), buf, sizeof buf - 1);
    if (n <= 0) return "";
    std::string target(buf, static_cast<size_t>(n));
    return target.starts_with("/") ? target : dir_ + "/" + target;
  }

  // The "..data" target plus the stamp of every file a fetch may read: cheap (a readlink and
  // a few stats), and it changes on kubelet's swap as on an in-place edit.
  std::string signature() const {
    std::string sig = resolved_data_dir();
    auto add = [&](const char* name) {
      FileStamp s = stamp_of(dir_ + "/" + name);
      sig += '|';
      if (s.exists)
        sig += std::to_string(s.dev) + ':' + std::to_string(s.ino) + ':' +
               std::to_string(s.mtime_ns) + ':' + std::to_string(s.size);
    };
    for (const KeyNames& names : kStyles) {
      add(names.id);
      add(names.secret);
      add(names.token);
    }
    for (const char* name : kExpirationNames) add(name);
    return sig;
  }

  std::string dir_;
  std::string last_;
};

class AwsProfileSource final : public CredentialSource {
 public:
  explicit AwsProfileSource(AwsProfileFiles files) : files_(std::move(files)) {}

  std::string describe() const override {
    return "AWS profile " + files_.profile + " (" + files_.credentials_path + ", " +
           files_.config_path + ")";
  }
  bool watches_files() const override { return true; }
  bool changed() override {
    return stamp_of(files_.credentials_path) != credentials_stamp_ ||
           stamp_of(files_.config_path) != config_stamp_;
  }

  Result<ExpiringCredentials> fetch() override {
    FileStamp cred_stamp = stamp_of(files_.credentials_path);
    FileStamp conf_stamp = stamp_of(files_.config_path);
    IniSections creds, config;
    if (auto text = read_small_file(files_.credentials_path); text.ok()) {
      creds = parse_aws_ini(*text);
    } else if (text.error().kind != ErrorKind::kNotFound) {
      return text.error();
    }
    if (auto text = read_small_file(files_.config_path); text.ok()) {
      config = parse_aws_ini(*text);
    } else if (text.error().kind != ErrorKind::kNotFound) {
      return text.error();
    }
    SHOAL_ASSIGN(Credentials c, aws_profile_credentials(creds, config, files_.profile, describe()));
    credentials_stamp_ = cred_stamp;
    config_stamp_ = conf_stamp;
    return ExpiringCredentials{std::move(c), std::nullopt};
  }

 private:
  AwsProfileFiles files_;
  FileStamp credentials_stamp_;
  FileStamp config_stamp_;
};

}  // namespace

std::unique_ptr<CredentialSource> make_secret_dir_source(std::string dir) {
  while (dir.size() > 1 && dir.ends_with('/')) dir.pop_back();
  return std::make_unique<SecretDirSource>(std::move(dir));
}

std::unique_ptr<CredentialSource> make_aws_profile_source(AwsProfileFiles files) {
  return std::make_unique<AwsProfileSource>(std::move(files));
}

IniSections parse_aws_ini(std::string_view text) {
  IniSections out;
  std::string section;
  bool in_section = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string line = trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = trim(std::string_view(line).substr(1, line.size() - 2));
      in_section = true;
      out[section];
      continue;
    }
    size_t eq = line.find('=');
    if (!in_section || eq == std::string::npos) continue;
    std::string key = trim(std::string_view(line).substr(0, eq));
    for (char& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    out[section][key] = trim(std::string_view(line).substr(eq + 1));
  }
  return out;
}

Result<Credentials> aws_profile_credentials(const IniSections& credentials_file,
                                            const IniSections& config_file,
                                            const std::string& profile,
                                            const std::string& where) {
  const std::map<std::string, std::string>* found = nullptr;
  if (auto it = credentials_file.find(profile); it != credentials_file.end()) {
    found = &it->second;
  }
  if (found == nullptr || !found->contains("aws_access_key_id")) {
    std::string name = profile == "default" ? "default" : "profile " + profile;
    auto it = config_file.find(name);
    if (it == config_file.end() && profile == "default") it = config_file.find("profile default");
    if (it != config_file.end() && it->second.contains("aws_access_key_id")) found = &it->second;
  }
  if (found == nullptr || !found->contains("aws_access_key_id"))
    return Error(ErrorKind::kNotFound, where + ": no aws_access_key_id in profile " + profile);
  Credentials c;
  c.access_key_id = found->at("aws_access_key_id");
  if (auto it = found->find("aws_secret_access_key"); it != found->end())
    c.secret_access_key = it->second;
  if (auto it = found->find("aws_session_token"); it != found->end()) c.session_token = it->second;
  if (c.access_key_id.empty() || c.secret_access_key.empty())
    return Error(ErrorKind::kInvalidArgument,
                 where + ": profile " + profile +
                     " has aws_access_key_id without aws_secret_access_key: give both");
  return c;
}

}  // namespace shoal
