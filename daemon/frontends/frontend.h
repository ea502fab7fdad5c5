// A frontend exposes one BlockDevice to the kernel (or a VM) through one transport: NBD,
// FUSE image, ublk and vhost-user-blk. This interface is the whole "ops table" the
// daemon core sees, so the core never knows which transport it serves (the ublksrv habit).
//
// Threading: a frontend lives on one Reactor thread. start(), stop() and describe() are called
// on that thread, and every callback a frontend registers runs there too. A frontend creates
// no threads of its own unless a library forces one, and then says so in its header.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/reactor.h"
#include "common/result.h"
#include "daemon/block_device.h"

namespace shoal {

// Everything any frontend can be told. Each transport reads only its own fields. The device is
// read-only whatever the options say: no transport offers a way to write.
struct FrontendOptions {
  // The name clients ask for (the NBD export name).
  std::string export_name = "shoal";

  // NBD: listen on a Unix socket, on TCP, or both. An empty path / address means "not on this".
  // vhost-user-blk listens on the Unix socket only.
  std::string unix_socket;
  std::string tcp_address;    // e.g. "127.0.0.1"; the listener binds exactly this address
  uint16_t tcp_port = 10809;  // 0 picks a free port (see NbdServer::tcp_port())
  size_t max_connections = 128;
  // A client that has not finished option haggling by then is dropped, so idle sockets cannot
  // hold connection slots forever.
  std::chrono::milliseconds handshake_timeout{30'000};

  // FUSE image: a directory mounted at mount_point holding one file, image_name.
  std::string mount_point;
  std::string image_name = "image";
  bool allow_other = false;  // let users other than the mounter open the image file

  // ublk: queues (the kernel caps them at the CPU count), tags per queue, the largest request,
  // and the control device. All queues are served on the frontend's reactor thread. The limits
  // are the kernel's (UBLK_MAX_NR_QUEUES, UBLK_MAX_QUEUE_DEPTH).
  static constexpr uint16_t kUblkMaxQueues = 4096;
  static constexpr uint16_t kUblkMaxQueueDepth = 4096;
  uint16_t ublk_queues = 1;
  uint16_t ublk_queue_depth = 128;
  uint32_t ublk_max_io_bytes = 512 * 1024;
  std::string ublk_control_path = "/dev/ublk-control";
  // Add the device with UBLK_F_USER_RECOVERY, so a restarted daemon can take it over.
  bool ublk_user_recovery = false;
  // >= 0: instead of adding a device, take over this one, whose daemon died (user recovery).
  int ublk_recover_device = -1;

  // vhost-user-blk: the most virtqueues a VM may use (answer to GET_QUEUE_NUM).
  uint16_t vhost_max_queues = 4;

  // Called once on the reactor when a frontend that was still coming up when start() returned
  // (Frontend::ready_pending()) is usable or has failed to come up. ublk: START_DEV completes
  // only after the kernel has read the partition table through the frontend, and the call comes
  // once /dev/ublkb<N> exists. Frontends ready when start() returns do not call it. Empty: a
  // late failure is written to stderr.
  std::function<void(const Status&)> on_ready;
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
};

// The transports make_frontend() knows, in the order `shoal mount` prefers them.
std::vector<std::string_view> frontend_names();

// Creates the frontend called `name` (one of frontend_names()) serving `device` on `reactor`.
// Both must outlive the frontend. Does not start it.
Result<std::unique_ptr<Frontend>> make_frontend(std::string_view name,
                                                const FrontendOptions& options, Reactor& reactor,
                                                BlockDevice& device);

}  // namespace shoal
