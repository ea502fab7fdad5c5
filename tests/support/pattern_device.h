// A block device for frontend tests whose bytes are a function of their offset, so any range
// can be checked and a large device costs no memory.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/reactor.h"
#include "common/result.h"
#include "daemon/block_device.h"

namespace shoal::test {

// The device byte at `offset`.
inline uint8_t pattern_byte(uint64_t offset) {
  return static_cast<uint8_t>((offset * 131) ^ (offset >> 9) ^ (offset >> 17));
}

// Fills `iov` with the device bytes from `offset` on.
void fill_pattern(uint64_t offset, std::span<const iovec> iov);

// Whether `data` holds the device bytes from `offset` on.
bool matches_pattern(const std::vector<uint8_t>& data, uint64_t offset);

// Completes every read (posted to the reactor, never inline) with the pattern, or with
// `failure` when it is set.
class PatternDevice : public BlockDevice {
 public:
  PatternDevice(Reactor& reactor, uint64_t size) : reactor_(reactor), size_(size) {}
  uint64_t size_bytes() const override { return size_; }
  void readv(uint64_t offset, std::span<const iovec> iov, ReadDone done) override;

  std::optional<Error> failure;

 private:
  Reactor& reactor_;
  uint64_t size_;
};

}  // namespace shoal::test
