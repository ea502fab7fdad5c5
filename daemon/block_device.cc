#include "daemon/block_device.h"

#include <memory>
#include <string>

namespace shoal {

Error past_end_error(uint64_t offset, uint64_t length, std::string_view device) {
  return Error(ErrorKind::kInvalidArgument, "read of " + std::to_string(length) +
                                                " bytes at offset " + std::to_string(offset) +
                                                " reaches past the end of " + std::string(device));
}

void BlockDevice::lend(uint64_t offset, uint64_t length, LendDone done) {
  // make_shared_for_overwrite: the bytes are about to be written, zeroing them first is waste.
  std::shared_ptr<char[]> buffer = std::make_shared_for_overwrite<char[]>(length);
  auto iov = std::make_shared<iovec>(iovec{buffer.get(), length});
  readv(offset, std::span<const iovec>(iov.get(), 1),
        [buffer, iov, done = std::move(done)](Status status) mutable {
          if (!status.ok()) {
            done(status.error());
            return;
          }
          LentBytes bytes;
          bytes.iov.push_back(*iov);
          bytes.holds.push_back(std::move(buffer));
          done(std::move(bytes));
        });
}

}  // namespace shoal
