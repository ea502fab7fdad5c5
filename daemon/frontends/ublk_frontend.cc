#include "daemon/frontends/ublk_frontend.h"

#include <fcntl.h>
#include <liburing.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <thread>

#include "common/log.h"

namespace shoal {
namespace {

// Linux 6.1's uapi header predates the ioctl-style opcodes; the kernel has accepted them since
// 6.4 and marks every device with UBLK_F_CMD_IOCTL_ENCODE, so they are spelled out here.
constexpr uint64_t kFlagCmdIoctlEncode = 1ull << 6;
constexpr uint32_t kCmdAddDev = _IOWR('u', UBLK_CMD_ADD_DEV, struct ublksrv_ctrl_cmd);
constexpr uint32_t kCmdDelDev = _IOWR('u', UBLK_CMD_DEL_DEV, struct ublksrv_ctrl_cmd);
constexpr uint32_t kCmdStartDev = _IOWR('u', UBLK_CMD_START_DEV, struct ublksrv_ctrl_cmd);
constexpr uint32_t kCmdStopDev = _IOWR('u', UBLK_CMD_STOP_DEV, struct ublksrv_ctrl_cmd);
constexpr uint32_t kCmdSetParams = _IOWR('u', UBLK_CMD_SET_PARAMS, struct ublksrv_ctrl_cmd);
constexpr uint32_t kCmdGetDevInfo = _IOR('u', UBLK_CMD_GET_DEV_INFO, struct ublksrv_ctrl_cmd);
constexpr uint32_t kCmdStartUserRecovery =
    _IOWR('u', UBLK_CMD_START_USER_RECOVERY, struct ublksrv_ctrl_cmd);
constexpr uint32_t kCmdEndUserRecovery =
    _IOWR('u', UBLK_CMD_END_USER_RECOVERY, struct ublksrv_ctrl_cmd);
constexpr uint32_t kIoFetchReq = _IOWR('u', UBLK_IO_FETCH_REQ, struct ublksrv_io_cmd);
constexpr uint32_t kIoCommitAndFetchReq =
    _IOWR('u', UBLK_IO_COMMIT_AND_FETCH_REQ, struct ublksrv_io_cmd);

constexpr uint32_t kNoQueue = 0xffff;
constexpr uint32_t kAnyDevice = 0xffffffff;
constexpr unsigned kBlockShift = 12;
constexpr auto kCharDeviceWait = std::chrono::seconds(5);
// devtmpfs has the disk node by the time START_DEV completes; a /dev kept by udev alone may lag.
constexpr auto kDiskNodeWait = std::chrono::seconds(10);
constexpr auto kDiskNodePoll = std::chrono::milliseconds(10);
constexpr auto kStopPoll = std::chrono::milliseconds(10);
constexpr auto kDeleteWait = std::chrono::seconds(30);
// How long a recovering daemon waits for the kernel to finish with its dead predecessor.
constexpr auto kRecoveryWait = std::chrono::seconds(10);

const char* control_name(uint32_t op) {
  switch (op) {
    case kCmdAddDev:
      return "ADD_DEV";
    case kCmdDelDev:
      return "DEL_DEV";
    case kCmdStartDev:
      return "START_DEV";
    case kCmdStopDev:
      return "STOP_DEV";
    case kCmdSetParams:
      return "SET_PARAMS";
    case kCmdGetDevInfo:
      return "GET_DEV_INFO";
    case kCmdStartUserRecovery:
      return "START_USER_RECOVERY";
    case kCmdEndUserRecovery:
      return "END_USER_RECOVERY";
    default:
      return "control command";
  }
}

size_t page_round(size_t bytes) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}

// Where queue q's descriptor array sits in the char device: the kernel reserves room for the
// largest queue depth per queue, whatever the real depth.
off_t descriptor_offset(uint16_t queue) {
  return static_cast<off_t>(UBLKSRV_CMD_BUF_OFFSET +
                            queue * page_round(UBLK_MAX_QUEUE_DEPTH * sizeof(ublksrv_io_desc)));
}

// The uring_cmd payload area of an SQE (16 bytes in a plain SQE, 80 with IORING_SETUP_SQE128).
void* command_area(io_uring_sqe* sqe) {
  return reinterpret_cast<char*>(sqe) + offsetof(io_uring_sqe, cmd);
}

void prep_uring_cmd(io_uring_sqe* sqe, int fd, uint32_t op, const void* cmd, size_t cmd_size,
                    size_t sqe_size) {
  std::memset(sqe, 0, sqe_size);
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = fd;
  sqe->cmd_op = op;
  std::memcpy(command_area(sqe), cmd, cmd_size);
}

Error kernel_error(const std::string& what, int res) { return errno_error(what, -res); }

uint64_t user_data_for(uint16_t queue, uint16_t tag) { return (uint64_t{queue} << 16) | tag; }

// Runs one control command to completion on the control ring (nothing else is in flight
// there); returns the kernel's result, a negative errno on failure.
int control_result(io_uring* ring, int control_fd, uint32_t op, const ublksrv_ctrl_cmd& cmd) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (sqe == nullptr) return -EBUSY;
  prep_uring_cmd(sqe, control_fd, op, &cmd, sizeof(cmd), 128);
  sqe->user_data = op;
  int rc = io_uring_submit_and_wait(ring, 1);
  io_uring_cqe* cqe = nullptr;
  if (rc >= 0) rc = io_uring_wait_cqe(ring, &cqe);
  if (rc < 0) return rc;
  int res = cqe->res;
  io_uring_cqe_seen(ring, cqe);
  return res;
}

Error control_error(uint32_t op, int device_id, int res) {
  std::string what = std::string("ublk ") + control_name(op);
  if (device_id >= 0) what += " on device " + std::to_string(device_id);
  return kernel_error(what, res);
}

Status run_control(io_uring* ring, int control_fd, uint32_t op, const ublksrv_ctrl_cmd& cmd,
                   int device_id) {
  int res = control_result(ring, control_fd, op, cmd);
  if (res < 0) return control_error(op, device_id, res);
  return {};
}

}  // namespace

// An io_uring of the frontend's own, closed on destruction.
class UblkFrontend::Ring {
 public:
  static Result<std::unique_ptr<Ring>> create(unsigned entries, unsigned flags) {
    auto ring = std::unique_ptr<Ring>(new Ring());
    io_uring_params params{};
    params.flags = flags;
    int rc = io_uring_queue_init_params(entries, &ring->ring_, &params);
    if (rc < 0) return kernel_error("creating an io_uring for ublk", rc);
    ring->ready_ = true;
    return ring;
  }
  ~Ring() {
    if (ready_) io_uring_queue_exit(&ring_);
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  int fd() const { return ring_.ring_fd; }
  io_uring* get() { return &ring_; }
  // An SQE, submitting what is queued first if the ring is full.
  io_uring_sqe* next_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }

 private:
  Ring() = default;
  io_uring ring_{};
  bool ready_ = false;
};

// One hardware queue: the kernel's read-only descriptor array and a buffer per tag. The buffers
// are shared with reads still in flight, which may outlive the queue after stop().
struct UblkFrontend::Queue {
  uint16_t id = 0;
  const ublksrv_io_desc* descriptors = nullptr;
  size_t descriptor_bytes = 0;
  std::shared_ptr<uint8_t> buffers;
  std::unique_ptr<UblkRequestHandler> handler;

  ~Queue() {
    if (descriptors != nullptr) munmap(const_cast<ublksrv_io_desc*>(descriptors), descriptor_bytes);
  }
};

UblkFrontend::UblkFrontend(const FrontendOptions& options, Reactor& reactor, BlockDevice& device)
    : options_(options), reactor_(reactor), device_(device) {}

UblkFrontend::~UblkFrontend() { stop(); }

std::string UblkFrontend::describe() const {
  if (device_id_ < 0) return "ublk (not started)";
  return "ublk " + disk_path();
}

std::string UblkFrontend::disk_path() const { return "/dev/ublkb" + std::to_string(device_id_); }

namespace {

static_assert(UblkOptions::kMaxQueueDepth == UBLK_MAX_QUEUE_DEPTH);

// Checked before anything touches the kernel, so a bad setting is reported as such on any host.
Status validate_ublk_options(const UblkOptions& options) {
  if (options.queues == 0 || options.queues > UblkOptions::kMaxQueues)
    return Error(ErrorKind::kInvalidArgument,
                 "ublk queues must be 1 to " + std::to_string(UblkOptions::kMaxQueues) +
                     ", not " + std::to_string(options.queues));
  if (options.queue_depth == 0 ||
      options.queue_depth > UblkOptions::kMaxQueueDepth)
    return Error(ErrorKind::kInvalidArgument,
                 "ublk queue depth must be 1 to " +
                     std::to_string(UblkOptions::kMaxQueueDepth) + ", not " +
                     std::to_string(options.queue_depth));
  if (options.max_io_bytes < 4096 || options.max_io_bytes % 4096 != 0)
    return Error(ErrorKind::kInvalidArgument,
                 "ublk max I/O size must be a positive multiple of 4096 bytes");
  return {};
}

}  // namespace

Status UblkFrontend::start() {
  if (control_fd_ >= 0) return Error(ErrorKind::kInvalidArgument, "ublk frontend already started");
  SHOAL_TRY(validate_ublk_options(options_.ublk));
  stopping_ = false;
  control_fd_ = ::open(options_.ublk.control_path.c_str(), O_RDWR | O_CLOEXEC);
  if (control_fd_ < 0) {
    int err = errno;
    std::string hint =
        err == ENOENT ? " (is the ublk_drv module loaded? try: modprobe ublk_drv)" : "";
    return errno_error("opening " + options_.ublk.control_path + hint, err);
  }
  bool recovering = options_.ublk.recover_device >= 0;
  Status status = [&]() -> Status {
    SHOAL_ASSIGN(control_ring_, Ring::create(4, IORING_SETUP_SQE128));
    if (recovering) {
      SHOAL_TRY(claim_for_recovery());
    } else {
      SHOAL_TRY(add_device());
      SHOAL_TRY(set_params());
    }
    SHOAL_TRY(open_char_device());
    SHOAL_TRY(setup_queues());
    SHOAL_TRY(fetch_all());
    return {};
  }();
  if (!status.ok()) {
    stop();
    return status;
  }
  start_device(recovering ? kCmdEndUserRecovery : kCmdStartDev);
  return {};
}

Status UblkFrontend::add_device() {
  ublksrv_ctrl_dev_info info{};
  info.nr_hw_queues = options_.ublk.queues;
  info.queue_depth = options_.ublk.queue_depth;
  info.max_io_buf_bytes = options_.ublk.max_io_bytes;
  info.dev_id = kAnyDevice;
  info.flags = kFlagCmdIoctlEncode | (options_.ublk.user_recovery ? UBLK_F_USER_RECOVERY : 0);
  ublksrv_ctrl_cmd cmd{};
  cmd.dev_id = kAnyDevice;
  cmd.queue_id = kNoQueue;
  cmd.addr = reinterpret_cast<uint64_t>(&info);
  cmd.len = sizeof(info);
  SHOAL_TRY(run_control(control_ring_->get(), control_fd_, kCmdAddDev, cmd, -1));
  // The kernel answers with what it granted: the device number, and queues capped at the CPUs.
  device_id_ = static_cast<int>(info.dev_id);
  owns_device_ = true;
  queue_count_ = info.nr_hw_queues;
  depth_ = info.queue_depth;
  max_io_bytes_ = info.max_io_buf_bytes;
  return {};
}

// Takes over a device whose daemon died (added with UBLK_F_USER_RECOVERY): its parameters and
// mounts stay; the kernel has requeued what was in flight and hands it to our FETCH_REQs.
Status UblkFrontend::claim_for_recovery() {
  auto id = static_cast<uint32_t>(options_.ublk.recover_device);
  ublksrv_ctrl_dev_info info{};
  ublksrv_ctrl_cmd cmd{};
  cmd.dev_id = id;
  cmd.queue_id = kNoQueue;
  cmd.addr = reinterpret_cast<uint64_t>(&info);
  cmd.len = sizeof(info);
  SHOAL_TRY(
      run_control(control_ring_->get(), control_fd_, kCmdGetDevInfo, cmd, static_cast<int>(id)));
  if ((info.flags & UBLK_F_USER_RECOVERY) == 0) {
    return Error(ErrorKind::kInvalidArgument,
                 "ublk device " + std::to_string(id) + " was not added with user recovery");
  }
  cmd.addr = 0;
  cmd.len = 0;
  // EBUSY until the kernel has released the dead daemon's char device and commands.
  auto deadline = std::chrono::steady_clock::now() + kRecoveryWait;
  for (;;) {
    int res = control_result(control_ring_->get(), control_fd_, kCmdStartUserRecovery, cmd);
    if (res >= 0) break;
    if (res != -EBUSY || std::chrono::steady_clock::now() > deadline)
      return control_error(kCmdStartUserRecovery, static_cast<int>(id), res);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  device_id_ = static_cast<int>(id);
  owns_device_ = true;
  queue_count_ = info.nr_hw_queues;
  depth_ = info.queue_depth;
  max_io_bytes_ = info.max_io_buf_bytes;
  device_bytes_ = device_.size_bytes() >> kBlockShift << kBlockShift;
  return {};
}

Status UblkFrontend::set_params() {
  device_bytes_ = device_.size_bytes() >> kBlockShift << kBlockShift;
  ublk_params params{};
  params.len = sizeof(params);
  params.types = UBLK_PARAM_TYPE_BASIC;
  params.basic.attrs = UBLK_ATTR_READ_ONLY;
  params.basic.logical_bs_shift = kBlockShift;
  params.basic.physical_bs_shift = kBlockShift;
  params.basic.io_min_shift = kBlockShift;
  params.basic.io_opt_shift = kBlockShift;
  params.basic.max_sectors = max_io_bytes_ >> 9;
  params.basic.dev_sectors = device_bytes_ >> 9;
  ublksrv_ctrl_cmd cmd{};
  cmd.dev_id = static_cast<uint32_t>(device_id_);
  cmd.queue_id = kNoQueue;
  cmd.addr = reinterpret_cast<uint64_t>(&params);
  cmd.len = sizeof(params);
  return run_control(control_ring_->get(), control_fd_, kCmdSetParams, cmd, device_id_);
}

Status UblkFrontend::open_char_device() {
  std::string path = "/dev/ublkc" + std::to_string(device_id_);
  // devtmpfs creates the node as the device is added; udev alone may lag behind a little.
  auto deadline = std::chrono::steady_clock::now() + kCharDeviceWait;
  while ((char_fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC)) < 0) {
    if (errno != ENOENT || std::chrono::steady_clock::now() > deadline)
      return errno_error("opening ublk char device " + path, errno);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return {};
}

Status UblkFrontend::setup_queues() {
  // One SQE per tag at most; CLAMP keeps many queues of deep tags within io_uring's ring limit
  // (Ring::next_sqe submits when the ring is full).
  SHOAL_ASSIGN(io_ring_,
               Ring::create(static_cast<unsigned>(queue_count_) * depth_, IORING_SETUP_CLAMP));
  for (uint16_t q = 0; q < queue_count_; ++q) {
    auto queue = std::make_unique<Queue>();
    queue->id = q;
    queue->descriptor_bytes = page_round(depth_ * sizeof(ublksrv_io_desc));
    void* descriptors = mmap(nullptr, queue->descriptor_bytes, PROT_READ, MAP_SHARED | MAP_POPULATE,
                             char_fd_, descriptor_offset(q));
    if (descriptors == MAP_FAILED)
      return errno_error("mapping the descriptors of ublk queue " + std::to_string(q), errno);
    queue->descriptors = static_cast<const ublksrv_io_desc*>(descriptors);
    size_t buffer_bytes = size_t{depth_} * max_io_bytes_;
    void* buffers =
        mmap(nullptr, buffer_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buffers == MAP_FAILED)
      return errno_error("allocating " + std::to_string(buffer_bytes) + " bytes of ublk buffers",
                         errno);
    queue->buffers = std::shared_ptr<uint8_t>(
        static_cast<uint8_t*>(buffers), [buffer_bytes](uint8_t* p) { munmap(p, buffer_bytes); });
    queue->handler = std::make_unique<UblkRequestHandler>(
        device_, device_bytes_, max_io_bytes_,
        [this, q](uint16_t tag, int32_t result) { commit(q, tag, result); });
    queues_.push_back(std::move(queue));
  }
  return {};
}

Status UblkFrontend::fetch_all() {
  for (auto& queue : queues_)
    for (uint16_t tag = 0; tag < depth_; ++tag) queue_io_command(kIoFetchReq, queue->id, tag, 0);
  int rc = io_uring_submit(io_ring_->get());
  if (rc < 0) return kernel_error("submitting ublk FETCH_REQ commands", rc);
  reactor_.watch(io_ring_->fd(), Reactor::kReadable, [this](uint32_t) { on_io_ready(); });
  return {};
}

void UblkFrontend::queue_io_command(uint32_t op, uint16_t queue, uint16_t tag, int32_t result) {
  ublksrv_io_cmd cmd{};
  cmd.q_id = queue;
  cmd.tag = tag;
  cmd.result = result;
  cmd.addr =
      reinterpret_cast<uint64_t>(queues_[queue]->buffers.get() + size_t{tag} * max_io_bytes_);
  io_uring_sqe* sqe = io_ring_->next_sqe();
  prep_uring_cmd(sqe, char_fd_, op, &cmd, sizeof(cmd), sizeof(io_uring_sqe));
  sqe->user_data = user_data_for(queue, tag);
}

// Queues a command for this device on the control ring; its completion carries `op` as
// user_data.
void UblkFrontend::submit_device_command(uint32_t op, uint64_t data0) {
  ublksrv_ctrl_cmd cmd{};
  cmd.dev_id = static_cast<uint32_t>(device_id_);
  cmd.queue_id = kNoQueue;
  cmd.data[0] = data0;
  io_uring_sqe* sqe = control_ring_->next_sqe();
  prep_uring_cmd(sqe, control_fd_, op, &cmd, sizeof(cmd), 128);
  sqe->user_data = op;
  io_uring_submit(control_ring_->get());
}

// Waits for the completion of control command `op`, calling `between_polls` every kStopPoll;
// returns its result (a negative errno on failure), or -ETIMEDOUT at `deadline`.
int UblkFrontend::await_device_command(uint32_t op, std::chrono::steady_clock::time_point deadline,
                                       const std::function<void()>& between_polls) {
  while (std::chrono::steady_clock::now() < deadline) {
    between_polls();
    __kernel_timespec wait{0, std::chrono::nanoseconds(kStopPoll).count()};
    io_uring_cqe* cqe = nullptr;
    int rc = io_uring_wait_cqe_timeout(control_ring_->get(), &cqe, &wait);
    if (rc == -ETIME || rc == -EINTR) continue;
    if (rc < 0) return rc;
    uint64_t completed = cqe->user_data;
    int res = cqe->res;
    io_uring_cqe_seen(control_ring_->get(), cqe);
    if (completed == op) return res;
  }
  return -ETIMEDOUT;
}

void UblkFrontend::start_device(uint32_t op) {
  start_pending_ = true;
  // The kernel runs control commands on its own worker, so this returns at once.
  submit_device_command(op, static_cast<uint64_t>(getpid()));
  reactor_.watch(control_ring_->fd(), Reactor::kReadable, [this](uint32_t) { on_control_ready(); });
}

void UblkFrontend::on_control_ready() {
  io_uring_cqe* cqe = nullptr;
  while (io_uring_peek_cqe(control_ring_->get(), &cqe) == 0) {
    int res = cqe->res;
    uint64_t op = cqe->user_data;
    io_uring_cqe_seen(control_ring_->get(), cqe);
    if (op != kCmdStartDev && op != kCmdEndUserRecovery) continue;
    reactor_.unwatch(control_ring_->fd());
    if (res < 0) {
      report_ready(kernel_error(std::string("ublk ") + control_name(static_cast<uint32_t>(op)) +
                                    " on device " + std::to_string(device_id_),
                                res));
      return;
    }
    wait_for_disk_node(std::chrono::steady_clock::now() + kDiskNodeWait);
    return;
  }
}

// Polled on reactor timers, not in a sleep loop: udev may read the new disk before it creates
// the node, and those reads need this thread.
void UblkFrontend::wait_for_disk_node(std::chrono::steady_clock::time_point deadline) {
  disk_node_timer_ = 0;
  std::string path = disk_path();
  struct stat st{};
  if (::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) {
    report_ready({});
    return;
  }
  if (std::chrono::steady_clock::now() > deadline) {
    report_ready(Error(ErrorKind::kIo, "ublk device " + std::to_string(device_id_) +
                                           " started but " + path +
                                           " did not appear: is /dev a devtmpfs?"));
    return;
  }
  disk_node_timer_ =
      reactor_.add_timer(kDiskNodePoll, [this, deadline] { wait_for_disk_node(deadline); });
}

void UblkFrontend::report_ready(const Status& status) {
  start_pending_ = false;
  live_ = status.ok();
  if (options_.on_ready) {
    options_.on_ready(status);
  } else if (!status.ok()) {
    log_error(status.error().describe());
  }
}

void UblkFrontend::on_io_ready() {
  io_uring_cqe* cqe = nullptr;
  while (io_uring_peek_cqe(io_ring_->get(), &cqe) == 0) {
    uint64_t user_data = cqe->user_data;
    int res = cqe->res;
    io_uring_cqe_seen(io_ring_->get(), cqe);
    handle_io_completion(user_data, res);
  }
  submit_io();
}

void UblkFrontend::handle_io_completion(uint64_t user_data, int res) {
  auto queue_id = static_cast<uint16_t>(user_data >> 16);
  auto tag = static_cast<uint16_t>(user_data & 0xffff);
  if (res != UBLK_IO_RES_OK) {
    // ABORT: the device is going away and this tag will not be fetched again. Anything else
    // means the kernel refused our command; the tag is lost either way.
    if (res != UBLK_IO_RES_ABORT && !stopping_) {
      log_error("ublk device " + std::to_string(device_id_) + " queue " + std::to_string(queue_id) +
                " tag " + std::to_string(tag) + ": " + std::strerror(-res));
    }
    return;
  }
  Queue& queue = *queues_[queue_id];
  if (stopping_) {
    queue_io_command(kIoCommitAndFetchReq, queue_id, tag, -EIO);
    return;
  }
  // Copied once: the kernel owns the shared descriptor and may rewrite it for the next request.
  ublksrv_io_desc desc = queue.descriptors[tag];
  queue.handler->handle(tag, desc, queue.buffers.get() + size_t{tag} * max_io_bytes_,
                        queue.buffers);
}

void UblkFrontend::commit(uint16_t queue, uint16_t tag, int32_t result) {
  if (io_ring_ == nullptr) return;
  queue_io_command(kIoCommitAndFetchReq, queue, tag, result);
  submit_io();
}

void UblkFrontend::submit_io() {
  int rc = io_uring_submit(io_ring_->get());
  if (rc < 0) log_error(std::string("submitting ublk commands: ") + std::strerror(-rc));
}

void UblkFrontend::stop() {
  if (control_fd_ < 0) return;
  stopping_ = true;
  for (auto& queue : queues_) queue->handler->abandon();
  if (io_ring_ != nullptr) reactor_.unwatch(io_ring_->fd());
  if (control_ring_ != nullptr) reactor_.unwatch(control_ring_->fd());
  if (disk_node_timer_ != 0) reactor_.cancel_timer(disk_node_timer_);
  disk_node_timer_ = 0;
  // A device we failed to claim for recovery belongs to someone else: leave it alone.
  bool added = owns_device_ && control_ring_ != nullptr;
  if (added && io_ring_ != nullptr) stop_device();
  release();
  if (added) delete_device();
  control_ring_.reset();
  ::close(control_fd_);
  control_fd_ = -1;
  device_id_ = -1;
  owns_device_ = false;
  live_ = false;
  start_pending_ = false;
}

// STOP_DEV removes the gendisk, which waits for requests in flight; meanwhile every request
// still arriving is answered with EIO, so STOP_DEV (and a START_DEV still reading the partition
// table) can finish.
void UblkFrontend::stop_device() {
  submit_device_command(kCmdStopDev);
  int res = await_device_command(kCmdStopDev, std::chrono::steady_clock::time_point::max(),
                                 [this] { drain_io_answering_eio(); });
  if (res < 0)
    log_error("ublk STOP_DEV on device " + std::to_string(device_id_) + ": " + std::strerror(-res));
  drain_io_answering_eio();
}

void UblkFrontend::drain_io_answering_eio() {
  io_uring_cqe* cqe = nullptr;
  while (io_uring_peek_cqe(io_ring_->get(), &cqe) == 0) {
    uint64_t user_data = cqe->user_data;
    int res = cqe->res;
    io_uring_cqe_seen(io_ring_->get(), cqe);
    handle_io_completion(user_data, res);
  }
  io_uring_submit(io_ring_->get());
}

// Closing the I/O ring makes the kernel cancel the FETCH_REQs still waiting (they hold the
// char device open); reads still in flight keep their buffers alive through shared pointers.
void UblkFrontend::release() {
  io_ring_.reset();
  queues_.clear();
  if (char_fd_ >= 0) ::close(char_fd_);
  char_fd_ = -1;
}

// DEL_DEV returns once the kernel has dropped the device, which waits for the cancelled
// commands above to let go of it.
void UblkFrontend::delete_device() {
  submit_device_command(kCmdDelDev);
  int res = await_device_command(kCmdDelDev, std::chrono::steady_clock::now() + kDeleteWait, [] {});
  if (res == -ETIMEDOUT) {
    log_error("ublk DEL_DEV on device " + std::to_string(device_id_) +
              " did not finish; the device may remain");
  } else if (res < 0) {
    log_error("ublk DEL_DEV on device " + std::to_string(device_id_) + ": " + std::strerror(-res));
  }
}

}  // namespace shoal
