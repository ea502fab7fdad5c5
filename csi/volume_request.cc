#include "csi/volume_request.h"

#include <charconv>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "daemon/volume_config.h"

namespace shoal::csi {
namespace {

// csi.v1.VolumeCapability.AccessMode.Mode values (csi/csi.proto).
constexpr int kSingleNodeReaderOnly = 2;
constexpr int kMultiNodeReaderOnly = 3;

std::string_view mode_name(int mode) {
  switch (mode) {
    case 1: return "SINGLE_NODE_WRITER (ReadWriteOnce)";
    case 4: return "MULTI_NODE_SINGLE_WRITER";
    case 5: return "MULTI_NODE_MULTI_WRITER (ReadWriteMany)";
    case 6: return "SINGLE_NODE_SINGLE_WRITER (ReadWriteOncePod)";
    case 7: return "SINGLE_NODE_MULTI_WRITER";
    default: return "UNKNOWN";
  }
}

Error invalid(std::string message) { return Error(ErrorKind::kInvalidArgument, std::move(message)); }

const std::set<std::string, std::less<>>& known_attributes() {
  static const std::set<std::string, std::less<>> keys = {
      "bucket", "url",    "path",     "region", "protocol", "index",
      "cacheMemory", "prefetch", "frontend", "hints", "rps"};
  return keys;
}

std::string get(const StringMap& map, const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? std::string() : it->second;
}

}  // namespace

Status check_capability(const Capability& c) {
  if (!c.present)
    return invalid("volume_capability is missing: the request must say how the volume is used");
  if (c.block)
    return invalid(
        "shoal volumes are read-only EROFS file systems, not raw block devices: use "
        "volumeMode: Filesystem; to write to the bucket, run `shoal writer` beside the job");
  if (!c.mode_set || c.access_mode == 0)
    return invalid("volume_capability.access_mode is missing: use ReadOnlyMany");
  if (c.access_mode != kSingleNodeReaderOnly && c.access_mode != kMultiNodeReaderOnly)
    return invalid("access mode " + std::string(mode_name(c.access_mode)) +
                   " writes, but shoal volumes are read-only: use ReadOnlyMany, and write "
                   "checkpoints and logs back to the bucket with `shoal writer` "
                   "(docs/kubernetes.md, the read/write-splitting example)");
  return {};
}

Result<std::optional<Credentials>> parse_secrets(const StringMap& secrets) {
  if (secrets.empty()) return std::optional<Credentials>();
  Credentials c;
  std::string unknown;
  for (const auto& [key, value] : secrets) {
    if (key == "akId" || key == "AWS_ACCESS_KEY_ID")
      c.access_key_id = value;
    else if (key == "akSecret" || key == "AWS_SECRET_ACCESS_KEY")
      c.access_key_secret = value;
    else if (key == "securityToken" || key == "AWS_SESSION_TOKEN")
      c.session_token = value;
    else
      unknown += (unknown.empty() ? "" : ", ") + key;
  }
  if (!unknown.empty())
    return invalid("unknown secret key(s) " + unknown +
                   ": shoal reads akId and akSecret (or AWS_ACCESS_KEY_ID and "
                   "AWS_SECRET_ACCESS_KEY) and optionally securityToken (or AWS_SESSION_TOKEN)");
  if (c.access_key_id.empty() || c.access_key_secret.empty())
    return invalid(
        "the secret must hold both an access key id (akId or AWS_ACCESS_KEY_ID) and its secret "
        "(akSecret or AWS_SECRET_ACCESS_KEY)");
  return std::optional<Credentials>(std::move(c));
}

Result<VolumeRequest> parse_volume_request(const StringMap& attributes, const StringMap& secrets) {
  for (const auto& [key, value] : attributes) {
    if (key.starts_with("csi.storage.k8s.io/")) continue;  // kubelet's pod info
    if (!known_attributes().contains(key))
      return invalid("unknown volume attribute '" + key +
                     "': shoal reads bucket, url, path, region, protocol, index, cacheMemory, "
                     "prefetch, frontend, hints and rps (docs/kubernetes.md)");
  }
  VolumeRequest r;
  r.bucket = get(attributes, "bucket");
  if (r.bucket.empty())
    return invalid("volume attribute 'bucket' is missing: set it to the bucket holding the data");
  if (r.bucket.find('/') != std::string::npos)
    return invalid("volume attribute 'bucket' is '" + r.bucket +
                   "': a bucket name has no '/'; put the key prefix in 'path'");
  std::string url = get(attributes, "url");
  std::string protocol = get(attributes, "protocol");
  if (protocol.empty()) protocol = url.find("aliyuncs.com") != std::string::npos ? "oss" : "s3";
  if (protocol != "oss" && protocol != "s3")
    return invalid("volume attribute 'protocol' is '" + protocol + "': use oss or s3");
  std::string prefix = get(attributes, "path");
  while (prefix.starts_with('/')) prefix.erase(0, 1);
  if (!prefix.empty() && !prefix.ends_with('/')) prefix += '/';
  r.source = protocol + "://" + r.bucket + "/" + prefix;
  if (std::string index = get(attributes, "index"); !index.empty()) {
    if (!index.ends_with(".shix") || index.find("://") == std::string::npos)
      return invalid("volume attribute 'index' is '" + index +
                     "': give the URI of an index shared through the bucket, such as " +
                     protocol + "://" + r.bucket + "/indexes/data.shix (shoal index build -o)");
    r.source = index;
  }

  r.frontend = get(attributes, "frontend");
  if (std::string size = get(attributes, "cacheMemory"); !size.empty()) {
    SHOAL_ASSIGN(uint64_t bytes, parse_size(size, "volume attribute 'cacheMemory'"));
    r.cache_memory = bytes;
  }
  if (std::string mode = get(attributes, "prefetch"); !mode.empty()) {
    auto parsed = parse_prefetch_mode(mode);
    if (!parsed.ok())
      return invalid("volume attribute 'prefetch' is '" + mode + "': use cross-file or none");
    r.prefetch = *parsed;
  }
  SHOAL_ASSIGN(r.credentials, parse_secrets(secrets));

  toml::table store;
  if (!url.empty()) store.insert("endpoint", url);
  if (std::string region = get(attributes, "region"); !region.empty()) store.insert("region", region);
  if (r.credentials) {
    store.insert("access_key_id", r.credentials->access_key_id);
    store.insert("access_key_secret", r.credentials->access_key_secret);
    if (!r.credentials->session_token.empty())
      store.insert("session_token", r.credentials->session_token);
  }
  toml::table config;
  if (!store.empty()) config.insert("store", std::move(store));
  if (std::string rps = get(attributes, "rps"); !rps.empty()) {
    int64_t value = -1;
    auto [end, ec] = std::from_chars(rps.data(), rps.data() + rps.size(), value);
    if (ec != std::errc() || end != rps.data() + rps.size() || value < 0)
      return invalid("volume attribute 'rps' is '" + rps +
                     "': give the most GET requests per second, a whole number (0: no cap)");
    config.insert("fetch", toml::table{{"rps", value}});
  }
  if (std::string hints = get(attributes, "hints"); !hints.empty()) {
    if (!hints.starts_with('/'))
      return invalid("volume attribute 'hints' is '" + hints +
                     "': give the absolute path of a hint list on the node");
    config.insert("prefetch", toml::table{{"hints", hints}});
  }
  std::ostringstream text;
  text << "# Written by shoal-csi for one volume; may hold its access keys (mode 0600).\n"
       << config << "\n";
  r.config_toml = text.str();
  return r;
}

}  // namespace shoal::csi
