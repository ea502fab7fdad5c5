// The I/O core of a ublk queue, kept apart from the kernel so a unit test can feed it
// ublksrv_io_desc structs: for each tag the kernel hands over it either answers at once (writes
// and unknown operations refused, reads past the end of the device refused) or starts an
// asynchronous BlockDevice::readv into the tag's buffer, and reports the result through
// `commit`. Tags are independent: a slow read holds its own tag only.
//
// Results follow the ublk convention: bytes transferred (>= 0) or a negative errno.
//
// Threading: one reactor thread, like the BlockDevice it calls.
#pragma once

#include <linux/ublk_cmd.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "daemon/block_device.h"

namespace shoal {

// What a descriptor asks for, decided without touching any buffer.
struct UblkRequestPlan {
  bool read = false;  // true: read `length` bytes at `offset`; false: answer `result` now
  uint64_t offset = 0;
  uint32_t length = 0;
  int32_t result = 0;
};

// device_bytes: the size the kernel was told (whole logical blocks); max_io_bytes: the size of
// a tag's buffer, which the kernel never exceeds unless it is broken.
UblkRequestPlan plan_ublk_request(const ublksrv_io_desc& desc, uint64_t device_bytes,
                                  uint32_t max_io_bytes);

class UblkRequestHandler {
 public:
  using Commit = std::function<void(uint16_t tag, int32_t result)>;

  UblkRequestHandler(BlockDevice& device, uint64_t device_bytes, uint32_t max_io_bytes,
                     Commit commit);
  ~UblkRequestHandler();
  UblkRequestHandler(const UblkRequestHandler&) = delete;
  UblkRequestHandler& operator=(const UblkRequestHandler&) = delete;

  // Serves one request. `buffer` (max_io_bytes long) must stay valid until commit runs for this
  // tag or until `keep_alive` is released, whichever is later: a read still in flight after
  // abandon() holds keep_alive until the device lets go of the buffer.
  void handle(uint16_t tag, const ublksrv_io_desc& desc, uint8_t* buffer,
              std::shared_ptr<void> keep_alive);
  // From now on reads still in flight complete into their buffers but commit nothing.
  void abandon();
  size_t reads_in_flight() const;

 private:
  struct State;
  BlockDevice& device_;
  uint64_t device_bytes_;
  uint32_t max_io_bytes_;
  std::shared_ptr<State> state_;
};

}  // namespace shoal
