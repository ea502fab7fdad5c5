#include "mount/volume_state.h"

#include <xxhash.h>

#include <toml++/toml.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace shoal::mount {

std::string run_dir() {
  const char* dir = std::getenv("SHOAL_RUN_DIR");
  return dir != nullptr && *dir != '\0' ? dir : "/run/shoal";
}

std::string hex_hash(std::string_view text) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(XXH3_64bits(text.data(), text.size())));
  return buf;
}

std::string state_dir_of(const std::string& mountpoint) {
  return run_dir() + "/" + hex_hash(mountpoint);
}

std::string format_state(const VolumeState& s) {
  toml::table t{{"mountpoint", s.mountpoint},
                {"pid", s.pid},
                {"frontend", s.frontend},
                {"attach", std::string(to_string(s.attachment))},
                {"image_dir", s.image_dir},
                {"image", s.image},
                {"block_device", s.block_device},
                {"control_socket", s.control_socket},
                {"log", s.log},
                {"index", s.index},
                {"source", s.source}};
  std::ostringstream out;
  out << t << "\n";
  return out.str();
}

Result<VolumeState> parse_state(std::string_view text, std::string_view origin) {
  toml::table t;
  try {
    t = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return Error(ErrorKind::kCorrupt,
                 "volume state " + std::string(origin) + ": " + std::string(e.description()));
  }
  VolumeState s;
  auto str = [&t](const char* key) { return t[key].value_or(std::string()); };
  s.mountpoint = str("mountpoint");
  s.pid = t["pid"].value_or(int64_t{0});
  s.frontend = str("frontend");
  s.image_dir = str("image_dir");
  if (s.image_dir.empty()) s.image_dir = str("fuse_dir");  // records of earlier versions
  s.image = str("image");
  s.block_device = str("block_device");
  s.control_socket = str("control_socket");
  s.log = str("log");
  s.index = str("index");
  s.source = str("source");
  if (std::string attach = str("attach"); !attach.empty()) {
    auto parsed = parse_attachment(attach);
    if (!parsed.ok()) return parsed.error().with_context("volume state " + std::string(origin));
    s.attachment = *parsed;
  } else if (const FrontendType* type = find_frontend_type(s.frontend)) {
    s.attachment = type->attachment;
  }
  if (s.mountpoint.empty())
    return Error(ErrorKind::kCorrupt,
                 "volume state " + std::string(origin) + " names no mount point");
  return s;
}

Status save_state(const std::string& path, const VolumeState& s) {
  std::string temp = path + ".tmp";
  std::ofstream out(temp, std::ios::trunc);
  out << format_state(s);
  out.close();
  if (!out || ::rename(temp.c_str(), path.c_str()) != 0)
    return errno_error("writing the volume state " + path, errno);
  return {};
}

Result<VolumeState> load_state(const std::string& path) {
  std::ifstream in(path);
  if (!in) return errno_error("volume state " + path, errno);
  std::ostringstream text;
  text << in.rdbuf();
  return parse_state(text.str(), path);
}

}  // namespace shoal::mount
