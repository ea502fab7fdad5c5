#include "support/pattern_device.h"

namespace shoal::test {

void fill_pattern(uint64_t offset, std::span<const iovec> iov) {
  for (const iovec& v : iov) {
    auto* p = static_cast<uint8_t*>(v.iov_base);
    for (size_t i = 0; i < v.iov_len; ++i) p[i] = pattern_byte(offset++);
  }
}

bool matches_pattern(const std::vector<uint8_t>& data, uint64_t offset) {
  for (size_t i = 0; i < data.size(); ++i)
    if (data[i] != pattern_byte(offset + i)) return false;
  return true;
}

void PatternDevice::readv(uint64_t offset, std::span<const iovec> iov, ReadDone done) {
  Status status;
  if (failure)
    status = *failure;
  else
    fill_pattern(offset, iov);
  reactor_.post([done = std::move(done), status] { done(status); });
}

}  // namespace shoal::test
