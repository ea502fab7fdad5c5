// virtio-blk requests on one split virtqueue, served from a BlockDevice (virtio 1.x, 5.2).
// VIRTIO_BLK_T_IN reads straight into the guest's buffers through BlockDevice::readv, many
// requests at once, each returned to the driver as its own read completes; T_OUT gets
// VIRTIO_BLK_S_IOERR (the device is read-only); T_GET_ID gets the serial; anything else
// VIRTIO_BLK_S_UNSUPP. A malformed chain (see SplitVirtqueue) is refused: it goes back to the
// driver unread with nothing written, so the guest sees an error instead of hanging.
//
// Threading: one reactor thread, like the BlockDevice.
#pragma once

#include <linux/virtio_blk.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "daemon/block_device.h"
#include "daemon/frontends/virtio_queue.h"

namespace shoal {

// What the device offers in virtio_blk_config and the feature bits that go with it.
struct VirtioBlkGeometry {
  uint64_t capacity_sectors = 0;  // 512-byte sectors, as virtio counts
  uint32_t block_size = 4096;
  uint32_t seg_max = 126;
  uint16_t num_queues = 1;
};
virtio_blk_config make_virtio_blk_config(const VirtioBlkGeometry& geometry);

class VirtioBlkQueue {
 public:
  using Call = std::function<void()>;

  // `call` interrupts the driver (writes the call eventfd). `serial` answers GET_ID (up to 20
  // bytes are sent).
  VirtioBlkQueue(BlockDevice& device, std::shared_ptr<const GuestMemory> memory,
                 SplitVirtqueue queue, std::string serial, Call call);
  ~VirtioBlkQueue();
  VirtioBlkQueue(const VirtioBlkQueue&) = delete;
  VirtioBlkQueue& operator=(const VirtioBlkQueue&) = delete;

  // Serves the requests the driver has made available (on each kick), at most kMaxPerCall per
  // call: the guest may refill the ring while it is served, or place buffers so that serving
  // writes the ring itself, and must not hold the loop for ever. True when it stopped at that
  // bound: the caller calls again from a later loop turn.
  static constexpr uint32_t kMaxPerCall = 256;
  bool process();
  // Takes no more requests; `drained` runs (on the reactor, possibly at once) when the reads in
  // flight have been returned to the driver. Returns nothing: next_available() is then final.
  void stop(std::function<void()> drained);
  // The same rings seen through a new memory table (SET_MEM_TABLE while running).
  void remap(std::shared_ptr<const GuestMemory> memory, SplitVirtqueue queue);

  uint16_t next_available() const;
  size_t reads_in_flight() const;
  uint64_t refused_chains() const;

 private:
  struct State;
  void serve(uint16_t head);

  BlockDevice& device_;
  std::shared_ptr<State> state_;
};

}  // namespace shoal
