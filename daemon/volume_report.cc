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

ControlReply format_volume_report(const VolumeReport& r) {
  ControlReply reply;
  reply.add("frontend", r.frontend);
  reply.add("attach", std::string(to_string(r.attachment)));
  if (std::string_view key = path_key(r.attachment); !key.empty())
    reply.add(std::string(key), r.path);
  reply.add("device_bytes", std::to_string(r.device_bytes));
  reply.add("pid", std::to_string(r.pid));
  return reply;
}

Result<VolumeReport> parse_volume_report(const ControlReply& reply) {
  VolumeReport r;
  std::string image, device;
  bool has_attach = false;
  for (const auto& [key, value] : reply.fields) {
    if (key == "frontend") {
      r.frontend = value;
    } else if (key == "attach") {
      SHOAL_ASSIGN(r.attachment, parse_attachment(value));
      has_attach = true;
    } else if (key == "image") {
      image = value;
    } else if (key == "device") {
      device = value;
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
