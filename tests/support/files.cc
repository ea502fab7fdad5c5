#include "support/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace shoal::test {

std::string read_file(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  std::array<char, 1 << 16> buffer;
  ssize_t n;
  while ((n = ::read(fd, buffer.data(), buffer.size())) > 0)
    out.append(buffer.data(), static_cast<size_t>(n));
  ::close(fd);
  return out;
}

std::vector<uint8_t> pread_range(int fd, uint64_t offset, size_t length, int* error) {
  std::vector<uint8_t> out(length);
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, out.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && error != nullptr) *error = errno;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

std::vector<uint8_t> read_range(const std::string& path, uint64_t offset, size_t length) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::vector<uint8_t> out = pread_range(fd, offset, length);
  ::close(fd);
  return out;
}

}  // namespace shoal::test
