#include "daemon/frontends/virtio_blk.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace shoal {
namespace {

constexpr size_t kHeaderBytes = sizeof(virtio_blk_outhdr);
constexpr size_t kIdBytes = VIRTIO_BLK_ID_BYTES;

// A request's pieces: its header, the data buffers (all writable bytes but the last) and the
// status byte (the last writable byte).
struct Parsed {
  virtio_blk_outhdr header{};
  std::vector<iovec> data;
  uint64_t data_bytes = 0;
  uint8_t* status = nullptr;
};

Result<Parsed> parse(const std::vector<DescriptorSegment>& segments, const GuestMemory& memory) {
  Parsed p;
  size_t header_have = 0;
  auto* header = reinterpret_cast<uint8_t*>(&p.header);
  size_t last_writable = segments.size();
  for (size_t i = 0; i < segments.size(); ++i)
    if (segments[i].device_writable) last_writable = i;
  if (last_writable == segments.size())
    return Error(ErrorKind::kInvalidArgument, "request without a status byte");
  for (size_t i = 0; i < segments.size(); ++i) {
    const DescriptorSegment& s = segments[i];
    if (!s.device_writable) {
      // The header may be split over several readable buffers; the rest of them is ignored.
      std::vector<iovec> pieces;
      memory.guest_iovecs(s.guest_addr, s.length, pieces);
      for (const iovec& v : pieces) {
        size_t take = std::min(v.iov_len, kHeaderBytes - header_have);
        std::memcpy(header + header_have, v.iov_base, take);
        header_have += take;
      }
      continue;
    }
    uint64_t length = s.length - (i == last_writable ? 1 : 0);
    if (i == last_writable) p.status = memory.guest_range(s.guest_addr + length, 1);
    if (length > 0) memory.guest_iovecs(s.guest_addr, length, p.data);
    p.data_bytes += length;
  }
  if (header_have < kHeaderBytes)
    return Error(ErrorKind::kInvalidArgument, "request header shorter than 16 bytes");
  return p;
}

size_t copy_to(const std::vector<iovec>& iov, const char* bytes, size_t n) {
  size_t done = 0;
  for (const iovec& v : iov) {
    size_t take = std::min(v.iov_len, n - done);
    std::memcpy(v.iov_base, bytes + done, take);
    done += take;
    if (done == n) break;
  }
  return done;
}

}  // namespace

virtio_blk_config make_virtio_blk_config(const VirtioBlkGeometry& geometry) {
  virtio_blk_config config{};
  config.capacity = geometry.capacity_sectors;
  config.seg_max = geometry.seg_max;
  config.blk_size = geometry.block_size;
  config.num_queues = geometry.num_queues;
  return config;
}

struct VirtioBlkQueue::State {
  std::shared_ptr<const GuestMemory> memory;
  SplitVirtqueue queue;
  std::string serial;
  Call call;
  size_t in_flight = 0;
  uint64_t refused = 0;
  bool stopped = false;
  bool detached = false;  // the queue object is gone: completions only land their bytes
  std::function<void()> drained;

  void complete(uint16_t head, uint8_t* status, uint8_t value, uint32_t written) {
    if (status != nullptr) *status = value;
    queue.push_used(head, written);
    if (queue.take_call_needed()) call();
  }
  void finish_read() {
    --in_flight;
    if (stopped && in_flight == 0 && drained) std::exchange(drained, nullptr)();
  }
};

VirtioBlkQueue::VirtioBlkQueue(BlockDevice& device, std::shared_ptr<const GuestMemory> memory,
                               SplitVirtqueue queue, std::string serial, Call call)
    : device_(device),
      state_(std::make_shared<State>(
          State{std::move(memory), queue, std::move(serial), std::move(call)})) {}

VirtioBlkQueue::~VirtioBlkQueue() {
  state_->detached = true;
  state_->drained = nullptr;
}

bool VirtioBlkQueue::process() {
  const uint32_t bound = std::min<uint32_t>(kMaxPerCall, state_->queue.size());
  for (uint32_t served = 0; !state_->stopped; ++served) {
    if (served == bound) return true;
    std::optional<uint16_t> head = state_->queue.pop_available();
    if (!head) return false;
    serve(*head);
  }
  return false;
}

void VirtioBlkQueue::serve(uint16_t head) {
  State& s = *state_;
  Result<Parsed> parsed = [&]() -> Result<Parsed> {
    SHOAL_ASSIGN(auto segments, s.queue.chain(head, *s.memory));
    return parse(segments, *s.memory);
  }();
  if (!parsed.ok()) {
    ++s.refused;
    // Only a head outside the table cannot be returned at all.
    if (head < s.queue.size()) s.complete(head, nullptr, 0, 0);
    return;
  }
  Parsed& p = *parsed;
  switch (p.header.type) {
    case VIRTIO_BLK_T_IN:
      break;
    case VIRTIO_BLK_T_OUT:
      s.complete(head, p.status, VIRTIO_BLK_S_IOERR, 1);
      return;
    case VIRTIO_BLK_T_GET_ID: {
      size_t n = copy_to(p.data, s.serial.data(),
                         std::min({s.serial.size(), kIdBytes, static_cast<size_t>(p.data_bytes)}));
      s.complete(head, p.status, VIRTIO_BLK_S_OK, static_cast<uint32_t>(n + 1));
      return;
    }
    default:
      s.complete(head, p.status, VIRTIO_BLK_S_UNSUPP, 1);
      return;
  }
  uint64_t device_bytes = device_.size_bytes();
  bool bad = p.data_bytes % 512 != 0 || p.header.sector > device_bytes / 512 ||
             !within_device(device_bytes, p.header.sector * 512, p.data_bytes);
  if (bad) {
    s.complete(head, p.status, VIRTIO_BLK_S_IOERR, 1);
    return;
  }
  if (p.data_bytes == 0) {
    s.complete(head, p.status, VIRTIO_BLK_S_OK, 1);
    return;
  }
  ++s.in_flight;
  auto iov = std::make_shared<std::vector<iovec>>(std::move(p.data));
  // The callback keeps the memory mapping alive: the read lands in guest memory even if the
  // connection went away meanwhile.
  device_.readv(p.header.sector * 512, *iov,
                [state = state_, memory = s.memory, iov, head, status = p.status,
                 written = static_cast<uint32_t>(p.data_bytes + 1)](Status result) {
                  if (!state->detached) {
                    state->complete(head, status,
                                    result.ok() ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR,
                                    result.ok() ? written : 1);
                  }
                  state->finish_read();
                });
}

void VirtioBlkQueue::stop(std::function<void()> drained) {
  state_->stopped = true;
  if (state_->in_flight == 0) {
    drained();
    return;
  }
  state_->drained = std::move(drained);
}

void VirtioBlkQueue::remap(std::shared_ptr<const GuestMemory> memory, SplitVirtqueue queue) {
  state_->memory = std::move(memory);
  state_->queue = queue;
}

uint16_t VirtioBlkQueue::next_available() const { return state_->queue.next_available(); }
size_t VirtioBlkQueue::reads_in_flight() const { return state_->in_flight; }
uint64_t VirtioBlkQueue::refused_chains() const { return state_->refused; }

}  // namespace shoal
