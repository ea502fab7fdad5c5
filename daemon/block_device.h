// What every frontend serves: a fixed-size, read-only device. The engine implements it; NBD,
// FUSE-image, ublk and vhost-user-blk only ever call readv(), so they share one data path and
// none of them knows where the bytes come from.
//
// Two ways to read: readv() copies into the caller's buffers; lend() hands out the device's own
// memory (cache pages, the index mapping) for a frontend that sends from scattered memory
// anyway (FUSE replies with writev, NBD with sendmsg), so the bytes are never copied in user
// space. A device that keeps no bytes in memory need not implement lend(): the default reads
// into a buffer of its own and lends that.
//
// Threading: called on the reactor thread that owns the device; `done` runs later on the same
// thread (never inline), after the bytes are in `iov` (or lent). The caller keeps `iov` and the
// buffers it points to alive until `done` runs.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace shoal {

// Device bytes lent without a copy: pieces of memory in device order covering exactly the range
// asked for, valid and unchanging for as long as this object lives (`holds` keeps them alive;
// memory that outlives the device, such as the index mapping, needs no hold). Holding it pins
// what it points to, so a frontend drops it as soon as the bytes are sent.
struct LentBytes {
  std::vector<iovec> iov;
  std::vector<std::shared_ptr<const void>> holds;

  uint64_t size() const {
    uint64_t n = 0;
    for (const iovec& v : iov) n += v.iov_len;
    return n;
  }
};

// Whether [offset, offset + length) lies inside a device of `size` bytes (no overflow for any
// inputs): the one range check every frontend and device makes.
constexpr bool within_device(uint64_t size, uint64_t offset, uint64_t length) {
  return offset <= size && length <= size - offset;
}
// What readv() and lend() fail with for a range that is not within_device(); `device` names it
// ("the 1048576-byte device", "image x.img").
Error past_end_error(uint64_t offset, uint64_t length, std::string_view device);

class BlockDevice {
 public:
  using ReadDone = std::function<void(Status)>;
  using LendDone = std::function<void(Result<LentBytes>)>;

  virtual ~BlockDevice() = default;

  virtual uint64_t size_bytes() const = 0;
  virtual uint32_t block_size() const { return 4096; }

  // Fills iov with the device bytes starting at `offset`. A range reaching past size_bytes()
  // fails with kInvalidArgument; a failed fetch fails with the store's error (frontends map
  // any failure to EIO for the kernel).
  virtual void readv(uint64_t offset, std::span<const iovec> iov, ReadDone done) = 0;
  // The bytes [offset, offset + length), lent (see LentBytes), with readv()'s errors. The
  // default reads them into one buffer of its own.
  virtual void lend(uint64_t offset, uint64_t length, LendDone done);
};

}  // namespace shoal
