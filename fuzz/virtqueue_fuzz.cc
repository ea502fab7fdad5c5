// Split virtqueues and virtio-blk requests (daemon/frontends/virtio_queue.h, virtio_blk.h,
// virtio_memory.h) against a guest that controls every byte of its memory: ring placement,
// indices, descriptor tables, indirect tables and request headers (fuzz/virtqueue_layout.h).
// Every buffer the device is asked to fill must lie inside guest memory, every refused chain
// goes back to the driver, and all reads complete before the queue reports itself drained.
#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "common/poll_reactor.h"
#include "daemon/block_device.h"
#include "daemon/frontends/virtio_blk.h"
#include "daemon/frontends/virtio_memory.h"
#include "daemon/frontends/virtio_queue.h"
#include "fuzz/checked_device.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/virtqueue_layout.h"

using namespace shoal;
namespace layout = shoal::fuzz::virtqueue;

namespace {

uint8_t* guest_base = nullptr;

bool inside_guest(const void* p, size_t n) {
  auto* b = static_cast<const uint8_t*>(p);
  return b >= guest_base && n <= layout::kMemoryBytes &&
         static_cast<size_t>(b - guest_base) <= layout::kMemoryBytes - n;
}

uint16_t load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < layout::kHeaderBytes) return 0;
  static PollReactor* loop = new PollReactor;
  static fuzz::CheckedDevice* device = new fuzz::CheckedDevice(*loop, inside_guest);
  static uint8_t* memory_bytes =
      static_cast<uint8_t*>(std::aligned_alloc(4096, layout::kMemoryBytes));
  guest_base = memory_bytes;

  uint16_t queue_size = static_cast<uint16_t>(1u << (data[0] % 16));
  if (data[0] & 0x80) queue_size = static_cast<uint16_t>(data[0] * 257);  // not a power of two
  SplitVirtqueue::Features features{(data[1] & layout::kFeatureEventIdx) != 0,
                                    (data[1] & layout::kFeatureIndirect) != 0};
  uint16_t next_available = load16(data + 2);
  VringAddresses rings{layout::kUserAddr + load16(data + 4), layout::kUserAddr + load16(data + 6),
                       layout::kUserAddr + load16(data + 8)};
  std::memset(memory_bytes, 0, layout::kMemoryBytes);
  std::memcpy(memory_bytes, data + layout::kHeaderBytes,
              std::min(size - layout::kHeaderBytes, layout::kMemoryBytes));

  std::vector<GuestMemory::Region> regions;
  for (size_t i = 0; i < 2; ++i) {
    regions.push_back({layout::kGuestPhys + i * layout::kRegionBytes, layout::kRegionBytes,
                       layout::kUserAddr + i * layout::kRegionBytes,
                       memory_bytes + i * layout::kRegionBytes});
  }
  std::shared_ptr<const GuestMemory> memory = GuestMemory::borrow(regions);

  auto queue = SplitVirtqueue::attach(*memory, queue_size, rings, features, next_available);
  if (!queue.ok()) {
    FUZZ_CHECK(!queue.error().message.empty());
    return 0;
  }

  // The chains on their own, as a second reader of the same rings would see them.
  {
    SplitVirtqueue probe = *queue;
    for (int i = 0; i < 64; ++i) {
      auto head = probe.pop_available();
      if (!head) break;
      auto chain = probe.chain(*head, *memory);
      if (!chain.ok()) continue;
      FUZZ_CHECK(chain->size() <= size_t{queue_size} + SplitVirtqueue::kMaxSize);
      for (const DescriptorSegment& s : *chain) {
        std::vector<iovec> iov;
        FUZZ_CHECK(memory->guest_iovecs(s.guest_addr, s.length, iov));
        for (const iovec& v : iov) FUZZ_CHECK(inside_guest(v.iov_base, v.iov_len));
      }
    }
  }

  uint64_t calls = 0;
  bool drained = false;
  {
    VirtioBlkQueue blk(*device, memory, *queue, "fuzz-serial", [&] { ++calls; });
    // As vhost-user-blk calls it: again from later loop turns while it says there is more
    // (a ring whose serving refills it says so for ever; the bound stands in for the loop's
    // other work). Then a second kick.
    for (int kick = 0; kick < 2; ++kick) {
      for (int turn = 0; turn < 2 && blk.process(); ++turn)
        loop->run_once(std::chrono::milliseconds(0));
      for (int i = 0; i < 4; ++i) loop->run_once(std::chrono::milliseconds(0));
    }
    blk.stop([&] { drained = true; });
    for (int i = 0; i < 1000 && !drained; ++i) loop->run_once(std::chrono::milliseconds(0));
    FUZZ_CHECK(drained);
    FUZZ_CHECK(blk.reads_in_flight() == 0);
  }
  while (loop->run_once(std::chrono::milliseconds(0))) {
  }
  return 0;
}
