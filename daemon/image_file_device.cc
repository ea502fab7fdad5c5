#include "daemon/image_file_device.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

namespace shoal {

Result<std::unique_ptr<ImageFileDevice>> ImageFileDevice::open(const std::string& path,
                                                               Reactor& reactor) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error("opening image " + path, errno);
  // SEEK_END gives the size of regular files and block devices alike.
  off_t end = ::lseek(fd.get(), 0, SEEK_END);
  if (end < 0) return errno_error("finding the size of image " + path, errno);
  return std::unique_ptr<ImageFileDevice>(
      new ImageFileDevice(reactor, std::move(fd), static_cast<uint64_t>(end), path));
}

ImageFileDevice::ImageFileDevice(Reactor& reactor, UniqueFd fd, uint64_t size, std::string path)
    : reactor_(reactor), fd_(std::move(fd)), size_(size), path_(std::move(path)) {}

ImageFileDevice::~ImageFileDevice() = default;

void ImageFileDevice::readv(uint64_t offset, std::span<const iovec> iov, ReadDone done) {
  Status status = read_all(offset, iov);
  reactor_.post(
      [done = std::move(done), status = std::move(status)]() mutable { done(std::move(status)); });
}

Status ImageFileDevice::read_all(uint64_t offset, std::span<const iovec> iov) const {
  uint64_t length = 0;
  for (const iovec& v : iov) length += v.iov_len;
  if (!within_device(size_, offset, length)) {
    return past_end_error(offset, length,
                          "image " + path_ + " (" + std::to_string(size_) + " bytes)");
  }
  // preadv may stop short; what is left is re-read from a trimmed copy of the vector.
  std::vector<iovec> left(iov.begin(), iov.end());
  size_t first = 0;
  while (first < left.size()) {
    if (left[first].iov_len == 0) {
      ++first;
      continue;
    }
    int count = static_cast<int>(std::min<size_t>(left.size() - first, IOV_MAX));
    ssize_t n = ::preadv(fd_.get(), left.data() + first, count, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return errno_error("reading image " + path_ + " at " + std::to_string(offset), errno);
    if (n == 0) {
      return Error(ErrorKind::kIo, "image " + path_ + " ended at " + std::to_string(offset) +
                                       ": it shrank after it was opened");
    }
    offset += static_cast<uint64_t>(n);
    for (size_t done = static_cast<size_t>(n); done > 0;) {
      size_t step = std::min(done, left[first].iov_len);
      left[first].iov_base = static_cast<char*>(left[first].iov_base) + step;
      left[first].iov_len -= step;
      done -= step;
      if (left[first].iov_len == 0) ++first;
    }
  }
  return {};
}

}  // namespace shoal
