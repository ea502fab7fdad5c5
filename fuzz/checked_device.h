// The device the frontend fuzz targets serve: 1 MiB, small so that reads past the end are easy
// to reach, completing on the loop as the engine does. A read the frontend should have refused
// (outside the device, or into memory `allowed` rejects) is a finding.
#pragma once

#include <cstring>
#include <functional>
#include <span>

#include "common/reactor.h"
#include "daemon/block_device.h"
#include "fuzz/fuzz_check.h"

namespace shoal::fuzz {

class CheckedDevice : public BlockDevice {
 public:
  using Allowed = std::function<bool(const void*, size_t)>;
  CheckedDevice(Reactor& reactor, Allowed allowed = nullptr)
      : reactor_(reactor), allowed_(std::move(allowed)) {}
  uint64_t size_bytes() const override { return 1u << 20; }
  void readv(uint64_t offset, std::span<const iovec> iov, ReadDone done) override {
    uint64_t length = 0;
    for (const iovec& v : iov) {
      if (allowed_) FUZZ_CHECK(allowed_(v.iov_base, v.iov_len));
      std::memset(v.iov_base, static_cast<int>(offset & 0xff), v.iov_len);
      length += v.iov_len;
    }
    FUZZ_CHECK(within_device(size_bytes(), offset, length));
    reactor_.post([done = std::move(done)] { done(Status()); });
  }

 private:
  Reactor& reactor_;
  Allowed allowed_;
};

}  // namespace shoal::fuzz
