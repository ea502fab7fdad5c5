#include "common/fd_io.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace shoal {

Status write_all(int fd, std::string_view data, std::string_view what) {
  bool socket = true;  // until send() says otherwise
  while (!data.empty()) {
    ssize_t n = socket ? ::send(fd, data.data(), data.size(), MSG_NOSIGNAL)
                       : ::write(fd, data.data(), data.size());
    if (n < 0 && socket && errno == ENOTSOCK) {
      socket = false;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error(what, errno);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Status pwrite_all(int fd, std::string_view data, uint64_t offset, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error(what, errno);
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

Result<size_t> pread_full(int fd, void* out, size_t length, uint64_t offset,
                          std::string_view what) {
  auto* p = static_cast<char*>(out);
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, p + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error(what, errno);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Result<std::string> pread_exact(int fd, uint64_t offset, uint64_t length,
                                const std::string& path) {
  std::string out(static_cast<size_t>(length), '\0');
  SHOAL_ASSIGN(size_t done, pread_full(fd, out.data(), out.size(), offset, "read " + path));
  if (done < out.size())
    return Error(ErrorKind::kIntegrity, path + " ended at byte " + std::to_string(offset + done) +
                                            " while " + std::to_string(offset + length) +
                                            " were expected: it changed while being read");
  return out;
}

Result<std::string> read_to_end(int fd, std::string_view what) {
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error(what, errno);
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace shoal
