// A frontend exposes one BlockDevice to the kernel (or a VM) through one transport: NBD,
// FUSE image, ublk and vhost-user-blk. This interface is the whole "ops table" the
// daemon core sees, so the core never knows which transport it serves (the ublksrv habit).
//
// Beside it, the transport table (FrontendType, one entry per transport) describes each
// transport once: its options struct, [frontend] keys, shoald flags, how the host attaches to
// it, when "auto" picks it, and its factory. The config reader, shoald's command line and the
// mount library learn about transports only from the table, so adding one touches nothing else.
//
// Threading: a frontend lives on one Reactor thread. start(), stop(), describe() and
// attach_path() are called on that thread, and every callback a frontend registers runs there
// too. A frontend creates no threads of its own unless a library forces one, and then says so
// in its header. The table is constant data: read it from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/reactor.h"
#include "common/result.h"
#include "daemon/block_device.h"

namespace shoal {

// The FUSE image: a directory mounted at mount_point holding one file, image_name.
struct FuseImageOptions {
  std::string mount_point;
  std::string image_name = "image";
  bool allow_other = false;  // let users other than the mounter open the image file
};

// NBD: listen on a Unix socket, on TCP, or both. An empty path / address means "not on this".
struct NbdOptions {
  std::string unix_socket;
  std::string tcp_address;    // e.g. "127.0.0.1"; the listener binds exactly this address
  uint16_t tcp_port = 10809;  // 0 picks a free port (see NbdServer::tcp_port())
  size_t max_connections = 128;
  // A client that has not finished option haggling by then is dropped, so idle sockets cannot
  // hold connection slots forever.
  std::chrono::milliseconds handshake_timeout{30'000};
};

// ublk: queues (the kernel caps them at the CPU count), tags per queue, the largest request,
// and the control device. All queues are served on the frontend's reactor thread. The limits
// are the kernel's (UBLK_MAX_NR_QUEUES, UBLK_MAX_QUEUE_DEPTH).
struct UblkOptions {
  static constexpr uint16_t kMaxQueues = 4096;
  static constexpr uint16_t kMaxQueueDepth = 4096;
  uint16_t queues = 1;
  uint16_t queue_depth = 128;
  uint32_t max_io_bytes = 512 * 1024;
  std::string control_path = "/dev/ublk-control";
  // Add the device with UBLK_F_USER_RECOVERY, so a restarted daemon can take it over.
  bool user_recovery = false;
  // >= 0: instead of adding a device, take over this one, whose daemon died (user recovery).
  int recover_device = -1;
};

// vhost-user-blk listens on a Unix socket only.
struct VhostUserBlkOptions {
  std::string unix_socket;
  uint16_t max_queues = 4;  // the most virtqueues a VM may use (answer to GET_QUEUE_NUM)
};

// What a frontend is told: the fields every transport shares, then one struct per transport,
// which only that transport reads. The device is read-only whatever the options say: no
// transport offers a way to write.
struct FrontendOptions {
  // The name clients ask for (the NBD export name, the vhost-user-blk serial).
  std::string export_name = "shoal";

  // Called once on the reactor when a frontend that was still coming up when start() returned
  // (Frontend::ready_pending()) is usable or has failed to come up. ublk: START_DEV completes
  // only after the kernel has read the partition table through the frontend, and the call comes
  // once /dev/ublkb<N> exists. Frontends ready when start() returns do not call it. Empty: a
  // late failure is written to stderr.
  std::function<void(const Status&)> on_ready;

  FuseImageOptions fuse;
  NbdOptions nbd;
  UblkOptions ublk;
  VhostUserBlkOptions vhost_user_blk;
};

class Frontend {
 public:
  virtual ~Frontend() = default;

  // Binds, listens or mounts; from then on the frontend serves on its reactor. Fails with a
  // message saying what the user can do (a missing /dev/fuse, a socket path in use, …).
  virtual Status start() = 0;
  // Stops serving: closes listeners and connections, unmounts. Idempotent. Reads still in
  // flight in the device complete harmlessly afterwards.
  virtual void stop() = 0;
  // One line for logs: the transport and where it serves, e.g. "nbd unix:/run/s.sock".
  virtual std::string describe() const = 0;
  // True after a successful start() while the frontend is still coming up: on_ready will say
  // when clients can use it. Whoever announces readiness (shoald's --ready-fd) waits for that.
  virtual bool ready_pending() const { return false; }
  // Where the host attaches to the device, by the transport's Attachment: the image file, or
  // the block device node. Empty for transports a client connects to, and before start().
  virtual std::string attach_path() const { return {}; }
};

// How the host gets at a transport's device: the image file a loop device goes over, a block
// device node the kernel created, or neither (a client or a VM connects to a socket).
enum class Attachment { kImageFile, kBlockDevice, kClient };
std::string_view to_string(Attachment attachment);  // "image-file", "block-device", "client"
Result<Attachment> parse_attachment(std::string_view text);

// A value of a frontend setting, as a config file or a command line gave it.
using SettingValue = std::variant<std::string, int64_t, bool>;

// One setting a transport (or every transport) takes, described once: its [frontend] key, its
// shoald flag, and how a value lands in FrontendOptions. volume_config.cc and shoald's command
// line read settings through these, so a new one needs only its entry here.
struct FrontendSetting {
  enum class Type { kString, kInteger, kBool };
  std::string_view toml_key;  // in the [frontend] table; empty: command line only
  std::string_view flag;      // shoald's, dashes included; empty: config file only
  std::string_view help;
  Type type = Type::kString;
  int64_t min = 0, max = 0;  // kInteger: the accepted range
  void (*apply)(FrontendOptions& options, const SettingValue& value) = nullptr;
  // `shoal mount` offers the flag as well and hands it on to shoald.
  bool for_mount = false;
};

// A setting with the value a caller chose, e.g. for shoal mount to hand on to shoald.
struct FrontendSettingValue {
  const FrontendSetting* setting = nullptr;
  SettingValue value;
};

// A command-line value checked against the setting's type and range; errors name the flag.
Result<SettingValue> parse_setting_text(const FrontendSetting& setting, std::string_view text);
// The command-line form of a value ("true" / "false" for booleans).
std::string format_setting_value(const SettingValue& value);

// One transport, described once: everything outside this table learns about transports from
// it, never by comparing names (the ublksrv_tgt_type habit).
struct FrontendType {
  std::string_view name;
  Attachment attachment;
  // The settings only this transport reads (common_frontend_settings() holds the shared ones).
  std::span<const FrontendSetting> settings;
  // "auto" stands for the first transport of the table whose auto_pick() holds on this host;
  // nullptr: used only when named.
  bool (*auto_pick)(const FrontendOptions& options);
  // Image-file transports: the shoald flag naming the directory the image file appears in, so
  // a caller that attaches the image (shoal mount) can give a private one.
  std::string_view image_dir_flag;
  // What must be set before start() can work, checked before anything is opened.
  Status (*check)(const FrontendOptions& options);
  std::unique_ptr<Frontend> (*make)(const FrontendOptions& options, Reactor& reactor,
                                    BlockDevice& device);
};

// Every transport, in the order "auto" prefers them.
std::span<const FrontendType> frontend_types();
// nullptr when no transport has that name.
const FrontendType* find_frontend_type(std::string_view name);
// Settings every transport may read (the export name).
std::span<const FrontendSetting> common_frontend_settings();

// A setting and the transport it belongs to (nullptr: a common one).
struct FrontendSettingRef {
  const FrontendType* type = nullptr;
  const FrontendSetting* setting = nullptr;
};
// The common settings, then each transport's in table order. A key or flag two transports
// share (both listen on `socket`) appears once for each, and a value is applied to both.
std::vector<FrontendSettingRef> all_frontend_settings();

// The transports make_frontend() knows, in the order "auto" prefers them.
std::vector<std::string_view> frontend_names();

// "auto" resolved through the table's auto_pick (ublk when /dev/ublk-control exists, else the
// FUSE image); any other name is returned as given.
std::string resolve_frontend_kind(std::string_view kind, const FrontendOptions& options = {});

// Creates the frontend called `name` (one of frontend_names()) serving `device` on `reactor`.
// Both must outlive the frontend. Does not start it.
Result<std::unique_ptr<Frontend>> make_frontend(std::string_view name,
                                                const FrontendOptions& options, Reactor& reactor,
                                                BlockDevice& device);

}  // namespace shoal
