// Credentials from files that may change while shoal runs: a directory holding one file per
// key (a Kubernetes Secret mounted as a volume), and the AWS shared credentials and config
// files (~/.aws/credentials, ~/.aws/config).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/credentials/provider.h"

namespace shoal {

// A directory with one file per value, as kubelet mounts a Secret: the visible names are
// symlinks into "..data", itself a symlink to a timestamped directory that kubelet replaces
// atomically. Three naming styles are read (the first whose key id file exists wins):
//   akId / akSecret / securityToken (ACK's), AccessKeyId / AccessKeySecret / SecurityToken
//   (Alibaba's STS field names), AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
//   AWS_SESSION_TOKEN (or OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET / OSS_SESSION_TOKEN);
// plus an optional Expiration file (ISO 8601, UTC) in any style. Values are trimmed of
// surrounding whitespace (a Secret made from a file often ends in a newline). All files of
// one fetch are read from the same resolved "..data" directory, so a fetch never mixes the
// key of one version with the secret of the next.
std::unique_ptr<CredentialSource> make_secret_dir_source(std::string dir);

// One profile of the AWS shared files, as the AWS CLI reads them: the credentials file's
// [name] section, then the config file's [profile name] ([default] for "default") section;
// aws_access_key_id, aws_secret_access_key, aws_session_token. Both files are watched: an
// edit (or a tool rewriting them) is picked up.
struct AwsProfileFiles {
  std::string credentials_path;  // AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials
  std::string config_path;       // AWS_CONFIG_FILE, else ~/.aws/config
  std::string profile;           // AWS_PROFILE, else "default"
};
std::unique_ptr<CredentialSource> make_aws_profile_source(AwsProfileFiles files);

// The INI dialect of the AWS files: "[section]" lines, "key = value" lines, '#' and ';'
// comment lines; keys lower-cased, values trimmed. Sections map to their keys.
using IniSections = std::map<std::string, std::map<std::string, std::string>>;
IniSections parse_aws_ini(std::string_view text);

// Reads one profile from already parsed files; kNotFound when neither file has the profile
// or it holds no aws_access_key_id; kInvalidArgument when the key id has no secret.
Result<Credentials> aws_profile_credentials(const IniSections& credentials_file,
                                            const IniSections& config_file,
                                            const std::string& profile,
                                            const std::string& where);

}  // namespace shoal
