#include "common/fd_io.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

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

namespace {

Error shrank(const std::string& path, uint64_t ended_at, uint64_t expected_end) {
  return Error(ErrorKind::kIntegrity, path + " ended at byte " + std::to_string(ended_at) +
                                          " while " + std::to_string(expected_end) +
                                          " were expected: it changed while being read");
}

}  // namespace

Result<std::string> pread_exact(int fd, uint64_t offset, uint64_t length,
                                const std::string& path) {
  std::string out(static_cast<size_t>(length), '\0');
  SHOAL_ASSIGN(size_t done, pread_full(fd, out.data(), out.size(), offset, "read " + path));
  if (done < out.size()) return shrank(path, offset + done, offset + length);
  return out;
}

Status preadv_exact(int fd, uint64_t offset, uint64_t length, std::vector<iovec> into,
                    const std::string& path) {
  // Trim the iovecs to exactly `length` bytes, then read until they are full.
  uint64_t room = 0;
  size_t count = 0;
  while (count < into.size() && room < length) {
    uint64_t m = std::min<uint64_t>(into[count].iov_len, length - room);
    into[count].iov_len = m;
    room += m;
    ++count;
  }
  if (room < length)
    return Error(ErrorKind::kInvalidArgument, "read " + path + ": " + std::to_string(length) +
                                                  " bytes asked into " + std::to_string(room));
  into.resize(count);
  uint64_t done = 0;
  size_t first = 0;
  while (done < length) {
    int n_iov = static_cast<int>(std::min<size_t>(into.size() - first, IOV_MAX));
    ssize_t n = ::preadv(fd, into.data() + first, n_iov, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("read " + path, errno);
    if (n == 0) return shrank(path, offset + done, offset + length);
    done += static_cast<uint64_t>(n);
    for (uint64_t left = static_cast<uint64_t>(n); left > 0;) {  // skip what was filled
      iovec& v = into[first];
      uint64_t m = std::min<uint64_t>(left, v.iov_len);
      v.iov_base = static_cast<char*>(v.iov_base) + m;
      v.iov_len -= m;
      left -= m;
      if (v.iov_len == 0) ++first;
    }
  }
  return {};
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
