// What every frontend serves: a fixed-size, read-only device. The engine implements it; NBD,
// FUSE-image, ublk and vhost-user-blk only ever call readv(), so they share one data path and
// none of them knows where the bytes come from.
//
// Threading: called on the reactor thread that owns the device; `done` runs later on the same
// thread (never inline), after the bytes are in `iov`. The caller keeps `iov` and the buffers
// it points to alive until `done` runs.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <span>

#include "common/result.h"

namespace shoal {

class BlockDevice {
 public:
  using ReadDone = std::function<void(Status)>;

  virtual ~BlockDevice() = default;

  virtual uint64_t size_bytes() const = 0;
  virtual uint32_t block_size() const { return 4096; }

  // Fills iov with the device bytes starting at `offset`. A range reaching past size_bytes()
  // fails with kInvalidArgument; a failed fetch fails with the store's error (frontends map
  // any failure to EIO for the kernel).
  virtual void readv(uint64_t offset, std::span<const iovec> iov, ReadDone done) = 0;
};

}  // namespace shoal
