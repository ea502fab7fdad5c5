// The ublk frontend: the BlockDevice becomes /dev/ublkb<N>, a read-only kernel block device
// with 4 KiB logical blocks whose I/O arrives as io_uring passthrough commands (the kernel's
// include/uapi/linux/ublk_cmd.h and Documentation/block/ublk.rst).
//
// Life cycle. start() opens /dev/ublk-control and, on a private io_uring with 128-byte SQEs,
// sends ADD_DEV (the kernel picks the device number), SET_PARAMS (read-only, 4 KiB blocks, the
// device size rounded down to whole blocks) and, once every tag of every queue has a FETCH_REQ
// waiting on the I/O ring, START_DEV. START_DEV completes only after the kernel has read the
// partition table through us, so it runs asynchronously: FrontendOptions::on_ready hears the
// outcome once /dev/ublkb<N> exists (ready_pending() until then). stop() sends STOP_DEV while
// answering every request still arriving with EIO (the kernel's del_gendisk waits for them),
// closes the I/O ring (which hands the idle FETCH_REQs back), then DEL_DEV, which returns once
// /dev/ublkb<N> and /dev/ublkc<N> are gone.
//
// I/O. Each tag owns a buffer of max_io_bytes; FETCH_REQ and COMMIT_AND_FETCH_REQ carry its
// address and the kernel copies the bytes into the request at commit (no USER_COPY, no zero
// copy). Reads go through BlockDevice::readv, many tags at once, each committed when its own
// read completes; writes get EROFS, reads past the end EIO (UblkRequestHandler).
//
// Rings. The control ring and the I/O ring are the frontend's own, not the reactor's: the
// reactor only watches their file descriptors (a ring's fd is readable while completions are
// waiting), so this frontend runs on any Reactor. The I/O ring must be private because closing
// it is the only way to take idle FETCH_REQs back from the kernel before DEL_DEV. All queues are
// served from the reactor's thread; the kernel allows one task to serve several queues.
//
// User recovery. With UblkOptions::user_recovery the device is added with
// UBLK_F_USER_RECOVERY: if the daemon dies, the kernel holds the device's I/O instead of failing
// it, and a new daemon started with recover_device = N takes device N over
// (START_USER_RECOVERY, fresh FETCH_REQs, END_USER_RECOVERY): mounts survive the restart. A
// clean stop() still deletes the device.
//
// Mount namespaces: the daemon must not share a mount namespace with a process that mounts the
// daemon's own /dev/ublkb<N> and could then block on it while the daemon is frozen (e.g. a
// container runtime freezing both); run shoald in its own namespace or on the host.
#pragma once

#include <linux/ublk_cmd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/frontends/frontend.h"
#include "daemon/frontends/ublk_request.h"

namespace shoal {

class UblkFrontend final : public Frontend {
 public:
  UblkFrontend(const FrontendOptions& options, Reactor& reactor, BlockDevice& device);
  ~UblkFrontend() override;
  UblkFrontend(const UblkFrontend&) = delete;
  UblkFrontend& operator=(const UblkFrontend&) = delete;

  // Fails with a hint when /dev/ublk-control is missing (modprobe ublk_drv) or the kernel refuses
  // the device; undoes whatever it had set up before failing.
  Status start() override;
  // Blocks until the kernel has deleted the device (a few milliseconds when nothing is in
  // flight). Idempotent.
  void stop() override;
  std::string describe() const override;
  // From start() until START_DEV (or END_USER_RECOVERY) has completed and /dev/ublkb<N> exists.
  bool ready_pending() const override { return start_pending_; }
  // /dev/ublkb<N> once it exists.
  std::string attach_path() const override { return live_ ? disk_path() : std::string(); }

  // -1 before start() succeeded.
  int device_id() const { return device_id_; }
  // True once START_DEV has completed and /dev/ublkb<N> exists.
  bool live() const { return live_; }

 private:
  class Ring;
  struct Queue;

  Status add_device();
  Status set_params();
  Status open_char_device();
  Status setup_queues();
  Status fetch_all();
  Status claim_for_recovery();
  void submit_device_command(uint32_t op, uint64_t data0 = 0);
  int await_device_command(uint32_t op, std::chrono::steady_clock::time_point deadline,
                           const std::function<void()>& between_polls);
  void start_device(uint32_t op);
  void on_control_ready();
  void wait_for_disk_node(std::chrono::steady_clock::time_point deadline);
  void report_ready(const Status& status);
  std::string disk_path() const;
  void on_io_ready();
  void handle_io_completion(uint64_t user_data, int res);
  void commit(uint16_t queue, uint16_t tag, int32_t result);
  void queue_io_command(uint32_t op, uint16_t queue, uint16_t tag, int32_t result);
  void submit_io();
  void stop_device();
  void drain_io_answering_eio();
  void delete_device();
  void release();

  FrontendOptions options_;
  Reactor& reactor_;
  BlockDevice& device_;
  uint64_t device_bytes_ = 0;
  uint16_t queue_count_ = 0;
  uint16_t depth_ = 0;
  uint32_t max_io_bytes_ = 0;

  int control_fd_ = -1;
  int char_fd_ = -1;
  int device_id_ = -1;
  bool owns_device_ = false;  // added by us, or claimed for recovery
  std::unique_ptr<Ring> control_ring_;
  std::unique_ptr<Ring> io_ring_;
  std::vector<std::unique_ptr<Queue>> queues_;
  Reactor::TimerId disk_node_timer_ = 0;
  bool start_pending_ = false;
  bool live_ = false;
  bool stopping_ = false;
};

}  // namespace shoal
