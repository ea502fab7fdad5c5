#include "daemon/frontends/frontend.h"

#include <unistd.h>

#include <charconv>

#include "daemon/frontends/fuse_image.h"
#include "daemon/frontends/nbd_server.h"
#include "daemon/frontends/ublk_frontend.h"
#include "daemon/frontends/vhost_user_blk.h"

namespace shoal {
namespace {

template <class T>
std::unique_ptr<Frontend> make(const FrontendOptions& options, Reactor& reactor,
                               BlockDevice& device) {
  return std::make_unique<T>(options, reactor, device);
}

Status no_check(const FrontendOptions&) { return {}; }

const std::string& text(const SettingValue& v) { return std::get<std::string>(v); }
int64_t number(const SettingValue& v) { return std::get<int64_t>(v); }
bool flag(const SettingValue& v) { return std::get<bool>(v); }

using Type = FrontendSetting::Type;

const FrontendSetting kCommonSettings[] = {
    {"export_name", "--export-name", "the export's name (NBD; the vhost-user-blk serial)",
     Type::kString, 0, 0,
     [](FrontendOptions& o, const SettingValue& v) { o.export_name = text(v); }},
};

const FrontendSetting kFuseSettings[] = {
    {"mountpoint", "--mountpoint", "the directory to mount, holding the device as the file 'image'",
     Type::kString, 0, 0,
     [](FrontendOptions& o, const SettingValue& v) { o.fuse.mount_point = text(v); }},
    {"allow_other", "", "let users other than the mounter open the image file", Type::kBool, 0, 0,
     [](FrontendOptions& o, const SettingValue& v) { o.fuse.allow_other = flag(v); }},
};

// The TCP listener is off unless an address or a port is set; a port alone means loopback.
const FrontendSetting kNbdSettings[] = {
    {"socket", "--socket", "listen on this Unix socket", Type::kString, 0, 0,
     [](FrontendOptions& o, const SettingValue& v) { o.nbd.unix_socket = text(v); }},
    {"address", "--address", "listen on this TCP address (default 127.0.0.1)", Type::kString, 0, 0,
     [](FrontendOptions& o, const SettingValue& v) { o.nbd.tcp_address = text(v); }},
    {"port", "--port", "listen on this TCP port (0 picks one)", Type::kInteger, 0, 65535,
     [](FrontendOptions& o, const SettingValue& v) {
       o.nbd.tcp_port = static_cast<uint16_t>(number(v));
       if (o.nbd.tcp_address.empty()) o.nbd.tcp_address = "127.0.0.1";
     }},
};

const FrontendSetting kUblkSettings[] = {
    {"ublk_queues", "--ublk-queues",
     "hardware queues (default 1; the kernel caps them at the CPU count)", Type::kInteger, 1,
     UblkOptions::kMaxQueues,
     [](FrontendOptions& o, const SettingValue& v) {
       o.ublk.queues = static_cast<uint16_t>(number(v));
     },
     true},
    {"ublk_depth", "--ublk-depth", "requests in flight per queue (default 128)", Type::kInteger, 1,
     UblkOptions::kMaxQueueDepth,
     [](FrontendOptions& o, const SettingValue& v) {
       o.ublk.queue_depth = static_cast<uint16_t>(number(v));
     },
     true},
    {"", "--ublk-user-recovery", "let a restarted shoald take the device over if this one dies",
     Type::kBool, 0, 0,
     [](FrontendOptions& o, const SettingValue& v) { o.ublk.user_recovery = flag(v); }},
    {"", "--ublk-recover-device",
     "take over device N (/dev/ublkbN) whose server died, instead of adding one", Type::kInteger,
     -1, 1 << 20,
     [](FrontendOptions& o, const SettingValue& v) {
       o.ublk.recover_device = static_cast<int>(number(v));
       if (o.ublk.recover_device >= 0) o.ublk.user_recovery = true;
     }},
};

// Shares `socket` with NBD: one setting serves whichever of the two runs.
const FrontendSetting kVhostUserBlkSettings[] = {
    {"socket", "--socket", "listen on this Unix socket", Type::kString, 0, 0,
     [](FrontendOptions& o, const SettingValue& v) { o.vhost_user_blk.unix_socket = text(v); }},
};

Status fuse_check(const FrontendOptions& options) {
  if (!options.fuse.mount_point.empty()) return {};
  return Error(ErrorKind::kInvalidArgument,
               "the fuse frontend needs a directory to mount: give --mountpoint DIR or "
               "[frontend] mountpoint");
}

bool ublk_auto(const FrontendOptions& options) {
  return ::access(options.ublk.control_path.c_str(), F_OK) == 0;
}

bool always(const FrontendOptions&) { return true; }

// ublk first: where the kernel has it, it is the native block device with the shortest path.
// The FUSE image works wherever /dev/fuse does, so it is what "auto" falls back to.
const FrontendType kTypes[] = {
    {"ublk", Attachment::kBlockDevice, kUblkSettings, ublk_auto, "", no_check, make<UblkFrontend>},
    {"fuse", Attachment::kImageFile, kFuseSettings, always, "--mountpoint", fuse_check,
     make<FuseImage>},
    {"nbd", Attachment::kClient, kNbdSettings, nullptr, "", no_check, make<NbdServer>},
    {"vhost-user-blk", Attachment::kClient, kVhostUserBlkSettings, nullptr, "", no_check,
     make<VhostUserBlk>},
};

}  // namespace

std::string_view to_string(Attachment attachment) {
  switch (attachment) {
    case Attachment::kImageFile: return "image-file";
    case Attachment::kBlockDevice: return "block-device";
    case Attachment::kClient: return "client";
  }
  return "client";
}

Result<Attachment> parse_attachment(std::string_view text) {
  for (Attachment a : {Attachment::kImageFile, Attachment::kBlockDevice, Attachment::kClient})
    if (text == to_string(a)) return a;
  return Error(ErrorKind::kInvalidArgument, "unknown attachment '" + std::string(text) +
                                                "' (known: image-file, block-device, client)");
}

std::span<const FrontendType> frontend_types() { return kTypes; }

std::span<const FrontendSetting> common_frontend_settings() { return kCommonSettings; }

std::vector<FrontendSettingRef> all_frontend_settings() {
  std::vector<FrontendSettingRef> all;
  for (const FrontendSetting& s : kCommonSettings) all.push_back({nullptr, &s});
  for (const FrontendType& type : kTypes)
    for (const FrontendSetting& s : type.settings) all.push_back({&type, &s});
  return all;
}

Result<SettingValue> parse_setting_text(const FrontendSetting& setting, std::string_view value) {
  switch (setting.type) {
    case FrontendSetting::Type::kString: return SettingValue(std::string(value));
    case FrontendSetting::Type::kBool:
      if (value == "true" || value == "1") return SettingValue(true);
      if (value == "false" || value == "0") return SettingValue(false);
      return Error(ErrorKind::kInvalidArgument, std::string(setting.flag) + ": '" +
                                                    std::string(value) + "' is not true or false");
    case FrontendSetting::Type::kInteger: {
      int64_t n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() || n < setting.min ||
          n > setting.max)
        return Error(ErrorKind::kInvalidArgument,
                     std::string(setting.flag) + ": '" + std::string(value) +
                         "' is not an integer between " + std::to_string(setting.min) + " and " +
                         std::to_string(setting.max));
      return SettingValue(n);
    }
  }
  return Error(ErrorKind::kInternal, "unknown setting type");
}

std::string format_setting_value(const SettingValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  if (const auto* n = std::get_if<int64_t>(&value)) return std::to_string(*n);
  return std::get<bool>(value) ? "true" : "false";
}

const FrontendType* find_frontend_type(std::string_view name) {
  for (const FrontendType& type : kTypes)
    if (type.name == name) return &type;
  return nullptr;
}

std::vector<std::string_view> frontend_names() {
  std::vector<std::string_view> names;
  for (const FrontendType& type : kTypes) names.push_back(type.name);
  return names;
}

std::string resolve_frontend_kind(std::string_view kind, const FrontendOptions& options) {
  if (kind != "auto") return std::string(kind);
  for (const FrontendType& type : kTypes)
    if (type.auto_pick != nullptr && type.auto_pick(options)) return std::string(type.name);
  return std::string(kTypes[0].name);
}

Result<std::unique_ptr<Frontend>> make_frontend(std::string_view name,
                                                const FrontendOptions& options, Reactor& reactor,
                                                BlockDevice& device) {
  if (const FrontendType* type = find_frontend_type(name))
    return type->make(options, reactor, device);
  std::string known;
  for (std::string_view n : frontend_names()) known += (known.empty() ? "" : ", ") + std::string(n);
  return Error(ErrorKind::kInvalidArgument,
               "unknown frontend '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace shoal
