#include "daemon/volume_report.h"

#include <charconv>

namespace shoal {
namespace {

// The key under which the attachment's path travels: a reader sees what kind of path it got.
std::string_view path_key(Attachment attachment) {
  switch (attachment) {
    case Attachment::kImageFile: return "image";
    case Attachment::kBlockDevice: return "device";
    case Attachment::kClient: return "";
  }
  return "";
}

template <class T>
bool parse_number(std::string_view text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

Error malformed(std::string_view why) {
  return Error(ErrorKind::kServer, "shoald's volume report " + std::string(why));
}

}  // namespace

std::string format_volume_report(const VolumeReport& r) {
  std::string out =
      "frontend " + r.frontend + "\nattach " + std::string(to_string(r.attachment)) + "\n";
  if (std::string_view key = path_key(r.attachment); !key.empty())
    out += std::string(key) + " " + r.path + "\n";
  out += "device_bytes " + std::to_string(r.device_bytes) + "\n";
  out += "pid " + std::to_string(r.pid) + "\n";
  return out;
}

Result<VolumeReport> parse_volume_report(std::string_view text) {
  VolumeReport r;
  std::string image, device;
  bool has_attach = false;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    size_t space = line.find(' ');
    if (line.empty() || space == std::string_view::npos) continue;
    std::string_view key = line.substr(0, space), value = line.substr(space + 1);
    if (key == "frontend") {
      r.frontend = std::string(value);
    } else if (key == "attach") {
      SHOAL_ASSIGN(r.attachment, parse_attachment(value));
      has_attach = true;
    } else if (key == "image") {
      image = std::string(value);
    } else if (key == "device") {
      device = std::string(value);
    } else if (key == "device_bytes") {
      if (!parse_number(value, r.device_bytes)) return malformed("has a bad device_bytes");
    } else if (key == "pid") {
      if (!parse_number(value, r.pid)) return malformed("has a bad pid");
    }
  }
  if (r.frontend.empty() || !has_attach) return malformed("names no frontend or attachment");
  r.path = r.attachment == Attachment::kImageFile     ? image
           : r.attachment == Attachment::kBlockDevice ? device
                                                      : std::string();
  if (r.attachment != Attachment::kClient && r.path.empty())
    return malformed("names no " + std::string(path_key(r.attachment)) + " to attach");
  return r;
}

}  // namespace shoal
