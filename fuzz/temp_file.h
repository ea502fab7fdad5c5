// Files for the targets whose production entry point takes a path (the index loader, the
// journal): one scratch directory per process, in memory when /dev/shm is there, so each
// input costs a write and no disk I/O.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace shoal::fuzz {

inline const std::string& scratch_dir() {
  // Never destroyed: the exit handler below runs after static destructors would have.
  static const std::string* dir = [] {
    std::string pattern = access("/dev/shm", W_OK) == 0 ? "/dev/shm/shoal-fuzz-XXXXXX"
                                                        : "/tmp/shoal-fuzz-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    // Removed at a normal exit; after a crash the input is in libFuzzer's artifact file anyway.
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratch_dir(), ignored);
    });
    return new std::string(pattern);
  }();
  return *dir;
}

// Replaces `path` with exactly these bytes.
inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::perror(path.c_str());
    std::abort();
  }
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) {
      std::perror("write");
      std::abort();
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

}  // namespace shoal::fuzz
