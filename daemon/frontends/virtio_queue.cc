#include "daemon/frontends/virtio_queue.h"

#include <atomic>
#include <cstring>
#include <string>

namespace shoal {
namespace {

// linux/virtio_ring.h cannot be included from C++ (its vring_init converts void*), so the few
// definitions needed are spelled out (virtio 1.x, 2.7.5).
struct RingDescriptor {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
struct UsedElement {
  uint32_t id;
  uint32_t len;
};
constexpr uint16_t kDescNext = 1;
constexpr uint16_t kDescWrite = 2;
constexpr uint16_t kDescIndirect = 4;
constexpr uint16_t kAvailNoInterrupt = 1;

// Offsets inside the rings (virtio 1.x, 2.7.6 and 2.7.8).
constexpr size_t kRingHeader = 4;                                              // flags, idx
size_t available_bytes(uint16_t size) { return kRingHeader + 2u * size + 2; }  // + used_event
size_t used_bytes(uint16_t size) { return kRingHeader + 8u * size + 2; }       // + avail_event

uint16_t load16(const uint8_t* p) {
  return __atomic_load_n(reinterpret_cast<const uint16_t*>(p), __ATOMIC_ACQUIRE);
}
void store16(uint8_t* p, uint16_t v) {
  __atomic_store_n(reinterpret_cast<uint16_t*>(p), v, __ATOMIC_RELEASE);
}

RingDescriptor read_descriptor(const uint8_t* table, uint32_t index) {
  RingDescriptor d;
  std::memcpy(&d, table + size_t{index} * sizeof(RingDescriptor), sizeof(d));
  return d;
}

Error chain_error(uint16_t head, const std::string& what) {
  return Error(ErrorKind::kInvalidArgument,
               "descriptor chain " + std::to_string(head) + ": " + what);
}

}  // namespace

Result<SplitVirtqueue> SplitVirtqueue::attach(const GuestMemory& memory, uint16_t size,
                                              const VringAddresses& addresses, Features features,
                                              uint16_t next_available) {
  if (size == 0 || size > kMaxSize || (size & (size - 1)) != 0) {
    return Error(ErrorKind::kInvalidArgument,
                 "virtqueue size " + std::to_string(size) + " is not a power of two up to 32768");
  }
  if (addresses.descriptors % 16 != 0 || addresses.available % 2 != 0 || addresses.used % 4 != 0)
    return Error(ErrorKind::kInvalidArgument, "virtqueue rings are misaligned");
  SplitVirtqueue q;
  q.size_ = size;
  q.features_ = features;
  q.descriptors_ = memory.user_range(addresses.descriptors, size_t{size} * sizeof(RingDescriptor));
  q.available_ = memory.user_range(addresses.available, available_bytes(size));
  q.used_ = memory.user_range(addresses.used, used_bytes(size));
  if (q.descriptors_ == nullptr || q.available_ == nullptr || q.used_ == nullptr)
    return Error(ErrorKind::kInvalidArgument, "virtqueue rings lie outside guest memory");
  q.next_available_ = next_available;
  q.used_index_ = load16(q.used_ + 2);
  q.signalled_used_ = q.used_index_;
  return q;
}

uint16_t SplitVirtqueue::available_index() const { return load16(available_ + 2); }

uint16_t SplitVirtqueue::read_available_entry(uint16_t slot) const {
  uint16_t head;
  std::memcpy(&head, available_ + kRingHeader + 2u * (slot % size_), sizeof(head));
  return head;
}

void SplitVirtqueue::publish_available_event() {
  store16(used_ + kRingHeader + 8u * size_, next_available_);
  // The driver reads avail_event after publishing its index; this fence pairs with its own so
  // that one of us sees the other's write (no lost kick).
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

std::optional<uint16_t> SplitVirtqueue::pop_available() {
  if (available_index() == next_available_) {
    if (!features_.event_idx) return std::nullopt;
    publish_available_event();
    if (available_index() == next_available_) return std::nullopt;
  }
  uint16_t head = read_available_entry(next_available_);
  ++next_available_;
  return head;
}

Result<std::vector<DescriptorSegment>> SplitVirtqueue::chain(uint16_t head,
                                                             const GuestMemory& memory) const {
  if (head >= size_) return chain_error(head, "head is outside the descriptor table");
  const uint8_t* table = descriptors_;
  uint32_t table_size = size_;
  uint32_t index = head;
  uint32_t visited = 0;
  uint32_t total = 0;
  bool in_indirect = false;
  std::vector<DescriptorSegment> segments;
  for (;;) {
    if (++visited > table_size) return chain_error(head, "loops or is longer than its table");
    RingDescriptor d = read_descriptor(table, index);
    if (d.flags & kDescIndirect) {
      if (!features_.indirect) return chain_error(head, "indirect descriptor not negotiated");
      if (in_indirect) return chain_error(head, "nested indirect table");
      if (d.flags & kDescNext) return chain_error(head, "indirect descriptor with NEXT");
      if (d.len == 0 || d.len % sizeof(RingDescriptor) != 0 ||
          d.len / sizeof(RingDescriptor) > kMaxSize) {
        return chain_error(head, "indirect table of " + std::to_string(d.len) + " bytes");
      }
      table = memory.guest_range(d.addr, d.len);
      if (table == nullptr) return chain_error(head, "indirect table outside guest memory");
      table_size = d.len / sizeof(RingDescriptor);
      index = 0;
      visited = 0;
      in_indirect = true;
      continue;
    }
    // The indirect descriptor, a pointer to the table (never nested), is not counted.
    if (++total > kMaxChainDescriptors) {
      return chain_error(head, "longer than " + std::to_string(kMaxChainDescriptors) +
                                   " descriptors");
    }
    bool writable = (d.flags & kDescWrite) != 0;
    if (!writable && !segments.empty() && segments.back().device_writable)
      return chain_error(head, "device-readable buffer after a writable one");
    std::vector<iovec> probe;
    if (!memory.guest_iovecs(d.addr, d.len, probe))
      return chain_error(head, "buffer outside guest memory");
    if (d.len > 0) segments.push_back({d.addr, d.len, writable});
    if (!(d.flags & kDescNext)) return segments;
    index = d.next;
    if (index >= table_size) return chain_error(head, "next index outside its table");
  }
}

void SplitVirtqueue::push_used(uint16_t head, uint32_t written) {
  UsedElement element{head, written};
  std::memcpy(used_ + kRingHeader + 8u * (used_index_ % size_), &element, sizeof(element));
  ++used_index_;
  store16(used_ + 2, used_index_);
}

bool SplitVirtqueue::take_call_needed() {
  // Orders our used index store before reading the driver's suppression hints.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  uint16_t old_index = signalled_used_;
  uint16_t new_index = used_index_;
  if (old_index == new_index) return false;
  signalled_used_ = new_index;
  if (features_.event_idx) {
    uint16_t used_event = load16(available_ + kRingHeader + 2u * size_);
    return static_cast<uint16_t>(new_index - used_event - 1) <
           static_cast<uint16_t>(new_index - old_index);
  }
  return (load16(available_) & kAvailNoInterrupt) == 0;
}

}  // namespace shoal
