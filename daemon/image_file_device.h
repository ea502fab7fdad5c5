// A BlockDevice over a local image file (or block device): the device for tests and for
// `shoald --image FILE` debugging, where the engine is not wanted.
//
// Reads are plain pread()s on the reactor thread (a local file answers quickly enough for its
// purposes); the completion is posted to the reactor, never run inline, as BlockDevice demands.
#pragma once

#include <memory>
#include <string>

#include "common/reactor.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "daemon/block_device.h"

namespace shoal {

class ImageFileDevice final : public BlockDevice {
 public:
  // Opens `path` read-only. The device size is the file size at open; the file must not shrink
  // afterwards (a read past its new end fails with kIo).
  static Result<std::unique_ptr<ImageFileDevice>> open(const std::string& path, Reactor& reactor);
  ~ImageFileDevice() override;
  ImageFileDevice(const ImageFileDevice&) = delete;
  ImageFileDevice& operator=(const ImageFileDevice&) = delete;

  uint64_t size_bytes() const override { return size_; }
  void readv(uint64_t offset, std::span<const iovec> iov, ReadDone done) override;

 private:
  ImageFileDevice(Reactor& reactor, UniqueFd fd, uint64_t size, std::string path);
  Status read_all(uint64_t offset, std::span<const iovec> iov) const;

  Reactor& reactor_;
  UniqueFd fd_;
  uint64_t size_;
  std::string path_;
};

}  // namespace shoal
