#include "daemon/frontends/vhost_user_blk.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "common/log.h"
#include "common/socket.h"
#include "daemon/frontends/vhost_user_protocol.h"
#include "daemon/frontends/virtio_blk.h"

namespace shoal {
namespace {

using vhost::Header;

constexpr size_t kMaxPayload = 4096;
constexpr size_t kMaxFdsPerMessage = 8;

constexpr uint64_t kOfferedFeatures = vhost::kFeatureProtocolFeatures | vhost::kFeatureVersion1 |
                                      vhost::kFeatureIndirectDesc | vhost::kFeatureEventIdx |
                                      vhost::kFeatureBlkSegMax | vhost::kFeatureBlkRo |
                                      vhost::kFeatureBlkBlkSize | vhost::kFeatureBlkMq;
constexpr uint64_t kOfferedProtocolFeatures =
    vhost::kProtocolMq | vhost::kProtocolReplyAck | vhost::kProtocolConfig;

Error protocol_error(const std::string& what) {
  return Error(ErrorKind::kInvalidArgument, "vhost-user: " + what);
}

template <class T>
Result<T> payload_as(std::span<const uint8_t> payload, const char* name) {
  if (payload.size() < sizeof(T))
    return protocol_error(std::string(name) + " payload of " + std::to_string(payload.size()) +
                          " bytes is too short");
  T value;
  std::memcpy(&value, payload.data(), sizeof(T));
  return value;
}

void close_fds(std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
  fds.clear();
}

void replace_fd(int& slot, int fd) {
  if (slot >= 0) ::close(slot);
  slot = fd;
}

}  // namespace

// One front end. Owned by the server; reactor callbacks and reads in flight hold weak
// references, so a connection that closes simply stops hearing about them.
class VhostUserBlk::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(VhostUserBlk& owner, int fd) : owner_(owner), fd_(fd), rings_(max_rings()) {}
  ~Connection() { release(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start() { watch_socket(); }
  void close();
  uint64_t refused_chains() const;

 private:
  struct Ring {
    uint16_t size = 0;
    uint16_t base = 0;
    std::optional<VringAddresses> addresses;
    int kick = -1;
    int call = -1;
    int err = -1;
    bool enabled = false;
    std::unique_ptr<VirtioBlkQueue> queue;
    uint64_t refused_before = 0;  // chains refused by queues this ring ran earlier
  };

  size_t max_rings() const {
    return std::max<uint16_t>(owner_.options_.vhost_user_blk.max_queues, 1);
  }
  void watch_socket();
  void on_readable();
  bool receive();
  void process_input();
  void handle_message();
  Status dispatch(std::span<const uint8_t> payload);
  bool has_own_reply(uint32_t request) const;
  bool send(uint32_t request, const void* payload, size_t size);
  void send_ack(uint32_t request, bool ok);

  Result<Ring*> ring_at(uint64_t index);
  Status set_mem_table(std::span<const uint8_t> payload);
  Status set_vring_num(std::span<const uint8_t> payload);
  Status set_vring_addr(std::span<const uint8_t> payload);
  Status set_vring_base(std::span<const uint8_t> payload);
  Status get_vring_base(std::span<const uint8_t> payload);
  Status set_vring_fd(uint32_t request, std::span<const uint8_t> payload);
  Status set_vring_enable(std::span<const uint8_t> payload);
  Status get_config(std::span<const uint8_t> payload);
  Status set_features(std::span<const uint8_t> payload);
  Status set_protocol_features(std::span<const uint8_t> payload);

  SplitVirtqueue::Features ring_features() const;
  void maybe_start(size_t index);
  void watch_kick(size_t index);
  void process_ring(size_t index);
  void stop_ring(size_t index, std::function<void()> then);
  void call_driver(size_t index);
  void reset();
  void release();

  VhostUserBlk& owner_;
  int fd_;
  bool closed_ = false;
  bool paused_ = false;  // a GET_VRING_BASE waits for reads in flight; no messages until then
  // The message being read: header, then payload; fds that came with its bytes.
  Header header_{};
  size_t header_have_ = 0;
  std::vector<uint8_t> payload_;
  size_t payload_have_ = 0;
  std::vector<int> fds_;

  uint64_t features_ = 0;
  uint64_t protocol_features_ = 0;
  std::shared_ptr<const GuestMemory> memory_;
  std::vector<Ring> rings_;
};

void VhostUserBlk::Connection::watch_socket() {
  std::weak_ptr<Connection> weak = weak_from_this();
  owner_.reactor_.watch(fd_, Reactor::kReadable, [weak](uint32_t) {
    if (auto self = weak.lock()) self->on_readable();
  });
}

void VhostUserBlk::Connection::on_readable() {
  auto keep = shared_from_this();
  if (!receive()) {
    close();
    return;
  }
  process_input();
}

// Reads what is there of the current message; false when the front end hung up or broke the
// framing.
bool VhostUserBlk::Connection::receive() {
  for (;;) {
    uint8_t* into;
    size_t want;
    if (header_have_ < sizeof(Header)) {
      into = reinterpret_cast<uint8_t*>(&header_) + header_have_;
      want = sizeof(Header) - header_have_;
    } else {
      into = payload_.data() + payload_have_;
      want = payload_.size() - payload_have_;
      if (want == 0) return true;
    }
    iovec iov{into, want};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = ::recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        fds_.push_back(fd);
      }
    }
    if ((msg.msg_flags & MSG_CTRUNC) != 0 || fds_.size() > kMaxFdsPerMessage) return false;
    if (n == 0) return false;
    if (header_have_ < sizeof(Header)) {
      header_have_ += static_cast<size_t>(n);
      if (header_have_ < sizeof(Header)) continue;
      if ((header_.flags & vhost::kVersionMask) != vhost::kVersion || header_.size > kMaxPayload) {
        return false;
      }
      payload_.assign(header_.size, 0);
      payload_have_ = 0;
    } else {
      payload_have_ += static_cast<size_t>(n);
    }
    if (header_have_ == sizeof(Header) && payload_have_ == payload_.size()) return true;
  }
}

void VhostUserBlk::Connection::process_input() {
  if (closed_ || paused_) return;
  if (header_have_ < sizeof(Header) || payload_have_ < payload_.size()) return;
  handle_message();
}

bool VhostUserBlk::Connection::has_own_reply(uint32_t request) const {
  return request == vhost::kGetFeatures || request == vhost::kGetProtocolFeatures ||
         request == vhost::kGetVringBase || request == vhost::kGetQueueNum ||
         request == vhost::kGetConfig;
}

void VhostUserBlk::Connection::handle_message() {
  Header request = header_;
  std::vector<uint8_t> payload = std::move(payload_);
  header_have_ = 0;
  payload_.clear();
  payload_have_ = 0;
  Status status = dispatch(payload);
  close_fds(fds_);  // whatever the message did not take
  if (closed_) return;
  bool ack = (protocol_features_ & vhost::kProtocolReplyAck) != 0 &&
             (request.flags & vhost::kFlagNeedReply) != 0 && !has_own_reply(request.request);
  if (ack) send_ack(request.request, status.ok());
  if (!status.ok()) {
    log_error(status.error().describe() + " (message " + std::to_string(request.request) + ")");
    if (!ack) close();
  }
}

Status VhostUserBlk::Connection::dispatch(std::span<const uint8_t> payload) {
  const uint32_t request = header_.request;
  switch (request) {
    case vhost::kGetFeatures:
      return send(request, &kOfferedFeatures, sizeof(kOfferedFeatures))
                 ? Status{}
                 : protocol_error("cannot send GET_FEATURES reply");
    case vhost::kSetFeatures:
      return set_features(payload);
    case vhost::kGetProtocolFeatures:
      return send(request, &kOfferedProtocolFeatures, sizeof(kOfferedProtocolFeatures))
                 ? Status{}
                 : protocol_error("cannot send GET_PROTOCOL_FEATURES reply");
    case vhost::kSetProtocolFeatures:
      return set_protocol_features(payload);
    case vhost::kSetOwner:
      return {};
    case vhost::kResetOwner:
      reset();
      return {};
    case vhost::kSetMemTable:
      return set_mem_table(payload);
    case vhost::kSetVringNum:
      return set_vring_num(payload);
    case vhost::kSetVringAddr:
      return set_vring_addr(payload);
    case vhost::kSetVringBase:
      return set_vring_base(payload);
    case vhost::kGetVringBase:
      return get_vring_base(payload);
    case vhost::kSetVringKick:
    case vhost::kSetVringCall:
    case vhost::kSetVringErr:
      return set_vring_fd(request, payload);
    case vhost::kSetVringEnable:
      return set_vring_enable(payload);
    case vhost::kGetQueueNum: {
      uint64_t count = max_rings();
      return send(request, &count, sizeof(count)) ? Status{}
                                                  : protocol_error("cannot send GET_QUEUE_NUM");
    }
    case vhost::kGetConfig:
      return get_config(payload);
    case vhost::kSetConfig:
      return protocol_error("the virtio-blk configuration is read-only");
    default:
      return protocol_error("unsupported request " + std::to_string(request));
  }
}

bool VhostUserBlk::Connection::send(uint32_t request, const void* payload, size_t size) {
  std::vector<uint8_t> out(sizeof(Header) + size);
  Header reply{request, vhost::kVersion | vhost::kFlagReply, static_cast<uint32_t>(size)};
  std::memcpy(out.data(), &reply, sizeof(reply));
  if (size > 0) std::memcpy(out.data() + sizeof(reply), payload, size);
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    // Replies are tiny; a front end that does not read them is broken.
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

void VhostUserBlk::Connection::send_ack(uint32_t request, bool ok) {
  uint64_t value = ok ? 0 : 1;
  if (!send(request, &value, sizeof(value))) close();
}

Result<VhostUserBlk::Connection::Ring*> VhostUserBlk::Connection::ring_at(uint64_t index) {
  if (index >= rings_.size())
    return protocol_error("ring " + std::to_string(index) + " does not exist (" +
                          std::to_string(rings_.size()) + " offered)");
  return &rings_[index];
}

Status VhostUserBlk::Connection::set_features(std::span<const uint8_t> payload) {
  SHOAL_ASSIGN(uint64_t features, payload_as<uint64_t>(payload, "SET_FEATURES"));
  if ((features & ~kOfferedFeatures) != 0)
    return protocol_error("SET_FEATURES asks for features that were not offered");
  features_ = features;
  return {};
}

Status VhostUserBlk::Connection::set_protocol_features(std::span<const uint8_t> payload) {
  SHOAL_ASSIGN(uint64_t features, payload_as<uint64_t>(payload, "SET_PROTOCOL_FEATURES"));
  if ((features & ~kOfferedProtocolFeatures) != 0)
    return protocol_error("SET_PROTOCOL_FEATURES asks for features that were not offered");
  protocol_features_ = features;
  return {};
}

SplitVirtqueue::Features VhostUserBlk::Connection::ring_features() const {
  return {(features_ & vhost::kFeatureEventIdx) != 0,
          (features_ & vhost::kFeatureIndirectDesc) != 0};
}

Status VhostUserBlk::Connection::set_mem_table(std::span<const uint8_t> payload) {
  SHOAL_ASSIGN(auto head, payload_as<vhost::MemoryHeader>(payload, "SET_MEM_TABLE"));
  // An empty table is refused here: the copy below must not see a zero-length vector.
  if (head.nregions == 0 || head.nregions > kMaxFdsPerMessage ||
      payload.size() < sizeof(head) + head.nregions * sizeof(vhost::MemoryRegion)) {
    return protocol_error("SET_MEM_TABLE with " + std::to_string(head.nregions) +
                          " regions in a payload of " + std::to_string(payload.size()) + " bytes");
  }
  std::vector<VhostMemoryRegion> regions(head.nregions);
  std::memcpy(regions.data(), payload.data() + sizeof(head),
              head.nregions * sizeof(vhost::MemoryRegion));
  SHOAL_ASSIGN(auto memory, GuestMemory::map(regions, fds_));
  close_fds(fds_);
  // Running rings carry on over the new table (QEMU resends it when the guest's memory map
  // changes); a ring that no longer fits in it is an error.
  for (Ring& ring : rings_) {
    if (!ring.queue) continue;
    SHOAL_ASSIGN(auto queue, SplitVirtqueue::attach(*memory, ring.size, *ring.addresses,
                                                    ring_features(), ring.queue->next_available()));
    ring.queue->remap(memory, queue);
  }
  memory_ = std::move(memory);
  return {};
}

Status VhostUserBlk::Connection::set_vring_num(std::span<const uint8_t> payload) {
  SHOAL_ASSIGN(auto state, payload_as<vhost::VringState>(payload, "SET_VRING_NUM"));
  SHOAL_ASSIGN(Ring * ring, ring_at(state.index));
  if (ring->queue) return protocol_error("SET_VRING_NUM on a running ring");
  if (state.num == 0 || state.num > SplitVirtqueue::kMaxSize || (state.num & (state.num - 1)))
    return protocol_error("ring size " + std::to_string(state.num) + " is not a power of two");
  ring->size = static_cast<uint16_t>(state.num);
  return {};
}

Status VhostUserBlk::Connection::set_vring_addr(std::span<const uint8_t> payload) {
  SHOAL_ASSIGN(auto addr, payload_as<vhost::VringAddr>(payload, "SET_VRING_ADDR"));
  SHOAL_ASSIGN(Ring * ring, ring_at(addr.index));
  if (!memory_) return protocol_error("SET_VRING_ADDR before SET_MEM_TABLE");
  if (ring->size == 0) return protocol_error("SET_VRING_ADDR before SET_VRING_NUM");
  if (ring->queue) return protocol_error("SET_VRING_ADDR on a running ring");
  VringAddresses addresses{addr.descriptor, addr.available, addr.used};
  // Checked now so that a bad address fails this message rather than a later kick.
  SHOAL_TRY(SplitVirtqueue::attach(*memory_, ring->size, addresses, ring_features(), 0));
  ring->addresses = addresses;
  maybe_start(addr.index);
  return {};
}

Status VhostUserBlk::Connection::set_vring_base(std::span<const uint8_t> payload) {
  SHOAL_ASSIGN(auto state, payload_as<vhost::VringState>(payload, "SET_VRING_BASE"));
  SHOAL_ASSIGN(Ring * ring, ring_at(state.index));
  if (ring->queue) return protocol_error("SET_VRING_BASE on a running ring");
  ring->base = static_cast<uint16_t>(state.num);
  return {};
}

Status VhostUserBlk::Connection::get_vring_base(std::span<const uint8_t> payload) {
  SHOAL_ASSIGN(auto state, payload_as<vhost::VringState>(payload, "GET_VRING_BASE"));
  SHOAL_TRY(ring_at(state.index));
  uint32_t index = state.index;
  paused_ = true;
  owner_.reactor_.unwatch(fd_);
  std::weak_ptr<Connection> weak = weak_from_this();
  stop_ring(index, [weak, index] {
    auto self = weak.lock();
    if (!self || self->closed_) return;
    vhost::VringState reply{index, self->rings_[index].base};
    if (!self->send(vhost::kGetVringBase, &reply, sizeof(reply))) {
      self->close();
      return;
    }
    self->paused_ = false;
    self->watch_socket();
  });
  return {};
}

// Stops the ring's queue (if running); `then` runs once its reads in flight are done, with
// ring.base holding where the driver's ring is to be read next.
void VhostUserBlk::Connection::stop_ring(size_t index, std::function<void()> then) {
  Ring& ring = rings_[index];
  if (ring.kick >= 0) owner_.reactor_.unwatch(ring.kick);
  replace_fd(ring.kick, -1);
  if (!ring.queue) {
    then();
    return;
  }
  std::weak_ptr<Connection> weak = weak_from_this();
  ring.queue->stop([weak, index, then = std::move(then)] {
    auto self = weak.lock();
    if (!self) return;
    Ring& r = self->rings_[index];
    r.base = r.queue->next_available();
    r.refused_before += r.queue->refused_chains();
    // Destroyed from a later reactor round: this callback may run inside the queue.
    self->owner_.reactor_.post([queue = std::shared_ptr<VirtioBlkQueue>(std::move(r.queue))] {});
    then();
  });
}

Status VhostUserBlk::Connection::set_vring_fd(uint32_t request, std::span<const uint8_t> payload) {
  SHOAL_ASSIGN(uint64_t value, payload_as<uint64_t>(payload, "SET_VRING_KICK/CALL/ERR"));
  SHOAL_ASSIGN(Ring * ring, ring_at(value & vhost::kVringIndexMask));
  size_t index = value & vhost::kVringIndexMask;
  int fd = -1;
  if ((value & vhost::kVringNoFd) == 0) {
    if (fds_.size() != 1) return protocol_error("ring eventfd message without exactly one fd");
    fd = fds_.front();
    fds_.clear();
  }
  if (request == vhost::kSetVringCall) {
    replace_fd(ring->call, fd);
    return {};
  }
  if (request == vhost::kSetVringErr) {
    replace_fd(ring->err, fd);
    return {};
  }
  if (fd < 0) return protocol_error("polling rings without a kick eventfd is not supported");
  if (ring->kick >= 0) owner_.reactor_.unwatch(ring->kick);
  replace_fd(ring->kick, fd);
  if (ring->queue) watch_kick(index);
  // Without protocol features a ring runs as soon as it is kicked; with them it waits for
  // SET_VRING_ENABLE.
  if ((features_ & vhost::kFeatureProtocolFeatures) == 0) ring->enabled = true;
  maybe_start(index);
  return {};
}

Status VhostUserBlk::Connection::set_vring_enable(std::span<const uint8_t> payload) {
  SHOAL_ASSIGN(auto state, payload_as<vhost::VringState>(payload, "SET_VRING_ENABLE"));
  SHOAL_ASSIGN(Ring * ring, ring_at(state.index));
  ring->enabled = state.num != 0;
  maybe_start(state.index);
  return {};
}

void VhostUserBlk::Connection::maybe_start(size_t index) {
  Ring& ring = rings_[index];
  if (ring.queue || !memory_ || !ring.addresses || ring.kick < 0 || !ring.enabled) return;
  auto queue =
      SplitVirtqueue::attach(*memory_, ring.size, *ring.addresses, ring_features(), ring.base);
  if (!queue.ok()) {
    // Only a memory table sent after SET_VRING_ADDR can get here; the ring stays stopped.
    log_error("vhost-user ring " + std::to_string(index) +
              " not started: " + queue.error().describe());
    return;
  }
  std::weak_ptr<Connection> weak = weak_from_this();
  std::string serial = owner_.options_.export_name.substr(0, VIRTIO_BLK_ID_BYTES);
  ring.queue =
      std::make_unique<VirtioBlkQueue>(owner_.device_, memory_, *queue, serial, [weak, index] {
        if (auto self = weak.lock()) self->call_driver(index);
      });
  watch_kick(index);
  process_ring(index);  // requests made available before the kick fd arrived
}

void VhostUserBlk::Connection::process_ring(size_t index) {
  Ring& ring = rings_[index];
  if (!ring.queue || !ring.queue->process()) return;
  // More than process() serves in one go: the rest in a later turn, after other work.
  std::weak_ptr<Connection> weak = weak_from_this();
  owner_.reactor_.post([weak, index] {
    if (auto self = weak.lock(); self && !self->closed_) self->process_ring(index);
  });
}

void VhostUserBlk::Connection::watch_kick(size_t index) {
  std::weak_ptr<Connection> weak = weak_from_this();
  owner_.reactor_.watch(rings_[index].kick, Reactor::kReadable, [weak, index](uint32_t) {
    auto self = weak.lock();
    if (!self) return;
    Ring& ring = self->rings_[index];
    uint64_t count;
    if (::read(ring.kick, &count, sizeof(count)) < 0 && errno != EAGAIN) return;
    self->process_ring(index);
  });
}

void VhostUserBlk::Connection::call_driver(size_t index) {
  int fd = rings_[index].call;
  if (fd < 0) return;
  uint64_t one = 1;
  // A full eventfd counter already means "interrupt pending"; nothing more to do.
  if (::write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
    log_warning("vhost-user call eventfd of ring " + std::to_string(index) + ": " +
                std::strerror(errno));
  }
}

Status VhostUserBlk::Connection::get_config(std::span<const uint8_t> payload) {
  SHOAL_ASSIGN(auto head, payload_as<vhost::ConfigHeader>(payload, "GET_CONFIG"));
  if (head.size > vhost::kMaxConfigBytes || head.offset > vhost::kMaxConfigBytes - head.size ||
      payload.size() != sizeof(head) + head.size) {
    return protocol_error("GET_CONFIG of " + std::to_string(head.size) + " bytes at " +
                          std::to_string(head.offset));
  }
  VirtioBlkGeometry geometry;
  geometry.capacity_sectors = owner_.device_.size_bytes() / 512;
  geometry.block_size = owner_.device_.block_size();
  geometry.num_queues = static_cast<uint16_t>(max_rings());
  virtio_blk_config config = make_virtio_blk_config(geometry);
  uint8_t space[vhost::kMaxConfigBytes] = {};
  std::memcpy(space, &config, sizeof(config));
  std::vector<uint8_t> reply(sizeof(head) + head.size);
  std::memcpy(reply.data(), &head, sizeof(head));
  std::memcpy(reply.data() + sizeof(head), space + head.offset, head.size);
  if (!send(vhost::kGetConfig, reply.data(), reply.size()))
    return protocol_error("cannot send GET_CONFIG reply");
  return {};
}

// RESET_OWNER: the session starts over (rings stopped, memory table and features forgotten).
void VhostUserBlk::Connection::reset() {
  for (size_t i = 0; i < rings_.size(); ++i) {
    Ring& ring = rings_[i];
    if (ring.kick >= 0) owner_.reactor_.unwatch(ring.kick);
    replace_fd(ring.kick, -1);
    replace_fd(ring.call, -1);
    replace_fd(ring.err, -1);
    ring = Ring{};
  }
  memory_.reset();
  features_ = 0;
  protocol_features_ = 0;
}

uint64_t VhostUserBlk::Connection::refused_chains() const {
  uint64_t total = 0;
  for (const Ring& ring : rings_)
    total += ring.refused_before + (ring.queue ? ring.queue->refused_chains() : 0);
  return total;
}

void VhostUserBlk::Connection::release() {
  if (fd_ < 0) return;
  reset();
  close_fds(fds_);
  owner_.reactor_.unwatch(fd_);
  ::close(fd_);
  fd_ = -1;
}

void VhostUserBlk::Connection::close() {
  if (closed_) return;
  closed_ = true;
  release();
  owner_.forget(this);
}

VhostUserBlk::VhostUserBlk(const FrontendOptions& options, Reactor& reactor, BlockDevice& device)
    : options_(options), reactor_(reactor), device_(device) {}

VhostUserBlk::~VhostUserBlk() { stop(); }

std::string VhostUserBlk::describe() const {
  if (options_.vhost_user_blk.unix_socket.empty()) return "vhost-user-blk";
  return "vhost-user-blk unix:" + options_.vhost_user_blk.unix_socket;
}

Status VhostUserBlk::start() {
  if (options_.vhost_user_blk.unix_socket.empty())
    return Error(ErrorKind::kInvalidArgument, "vhost-user-blk needs a Unix socket path");
  Status status = listen_unix();
  if (!status.ok()) {
    stop();
    return status;
  }
  reactor_.watch(listener_.fd(), Reactor::kReadable, [this](uint32_t) { accept_all(); });
  return {};
}

Status VhostUserBlk::listen_unix() {
  SHOAL_ASSIGN(listener_, UnixListener::listen(options_.vhost_user_blk.unix_socket, "vhost-user", {.backlog = 4}));
  return {};
}

void VhostUserBlk::accept_all() {
  for (;;) {
    int fd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or an error the next readiness will report again
    Status status = adopt(fd);
    if (!status.ok()) log_error(status.error().describe());
  }
}

Status VhostUserBlk::adopt(int fd) {
  if (connection_) {
    ::close(fd);
    ++refused_connections_;
    return Error(ErrorKind::kInvalidArgument,
                 "vhost-user-blk serves one front end at a time; closed a second connection");
  }
  Status nonblocking = set_nonblocking(fd, "a vhost-user socket");
  if (!nonblocking.ok()) {
    ::close(fd);
    return nonblocking;
  }
  connection_ = std::make_shared<Connection>(*this, fd);
  connection_->start();
  return {};
}

void VhostUserBlk::forget(const Connection* connection) {
  if (connection_.get() != connection) return;
  // Freed from a later round: the connection may be deep in one of its own callbacks.
  reactor_.post([doomed = std::move(connection_)] {});
}

uint64_t VhostUserBlk::refused_chains() const {
  return connection_ ? connection_->refused_chains() : 0;
}

void VhostUserBlk::stop() {
  if (connection_) connection_->close();
  connection_.reset();
  if (listener_.listening()) reactor_.unwatch(listener_.fd());
  listener_.close();  // and removes the socket file
}

}  // namespace shoal
