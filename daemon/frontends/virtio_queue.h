// A split virtqueue (virtio 1.x, section 2.7) seen from the device side: the descriptor table,
// the available ring the driver fills and the used ring we fill, all in guest memory.
//
// The guest is not trusted. Each descriptor is copied out of guest memory once, chains are
// bounded by the table size (a loop is refused, never followed forever), indirect tables must
// lie inside guest memory and may not nest, and every buffer a descriptor names is checked
// against the memory table before anyone uses it.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/result.h"
#include "daemon/frontends/virtio_memory.h"

namespace shoal {

// Ring addresses in the front end's (userspace) address space, as SET_VRING_ADDR gives them.
struct VringAddresses {
  uint64_t descriptors = 0;
  uint64_t available = 0;
  uint64_t used = 0;
};

struct DescriptorSegment {
  uint64_t guest_addr = 0;
  uint32_t length = 0;
  bool device_writable = false;
};

class SplitVirtqueue {
 public:
  static constexpr uint16_t kMaxSize = 32768;
  // Descriptors in one chain, an indirect table's included: QEMU's limit (VIRTQUEUE_MAX_SIZE);
  // virtio-blk drivers need seg_max + 2. Bounds the work one request can cost.
  static constexpr uint32_t kMaxChainDescriptors = 1024;

  struct Features {
    bool event_idx = false;
    bool indirect = false;
  };

  // Checks that the three rings of `size` entries lie inside guest memory, properly aligned.
  // `next_available` is where the driver's ring is read from (SET_VRING_BASE); the used index
  // continues from what the used ring holds.
  static Result<SplitVirtqueue> attach(const GuestMemory& memory, uint16_t size,
                                       const VringAddresses& addresses, Features features,
                                       uint16_t next_available);

  // The head descriptor of the next request, if the driver has made one available. When there
  // is none and EVENT_IDX is on, asks the driver to kick at the next one.
  std::optional<uint16_t> pop_available();
  // The buffers of the chain starting at `head`: device-readable ones first, then writable ones.
  Result<std::vector<DescriptorSegment>> chain(uint16_t head, const GuestMemory& memory) const;
  // Returns the chain to the driver with `written` bytes written into its writable buffers.
  void push_used(uint16_t head, uint32_t written);
  // Whether the driver wants an interrupt for what was pushed since the last time this said so.
  bool take_call_needed();

  uint16_t next_available() const { return next_available_; }
  uint16_t size() const { return size_; }

 private:
  SplitVirtqueue() = default;
  uint16_t available_index() const;
  uint16_t read_available_entry(uint16_t slot) const;
  void publish_available_event();

  uint16_t size_ = 0;
  Features features_;
  uint8_t* descriptors_ = nullptr;
  uint8_t* available_ = nullptr;
  uint8_t* used_ = nullptr;
  uint16_t next_available_ = 0;
  uint16_t used_index_ = 0;
  uint16_t signalled_used_ = 0;  // used index the driver last heard about
};

}  // namespace shoal
