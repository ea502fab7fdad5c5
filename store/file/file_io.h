// Low-level local-file helpers for the file:// backend: descriptors, whole writes, atomic
// replacement, and the ETag rule.
#pragma once

#include <sys/uio.h>

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/object_store.h"

namespace shoal::file {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  int release();

 private:
  int fd_ = -1;
};

// Names the backend keeps for itself in every directory; listings never show them and keys
// may not use them.
inline constexpr std::string_view kStagingDirName = ".shoal-multipart";
inline constexpr std::string_view kTempPrefix = ".shoal-tmp-";
bool is_reserved_name(std::string_view name);

// ETag of a local file: "<size>-<mtime_ns>-<inode>" in hex. Reading it costs one stat, not a
// pass over the data; every put replaces the inode (temp file + rename), so a rewrite with the
// same size within one clock tick still changes the tag. Stable for as long as the file is
// untouched; a copy of the tree (new inodes, new mtimes) gets new tags.
std::string etag_of(const struct stat& st);
int64_t mtime_ns_of(const struct stat& st);
ObjectInfo info_from_stat(std::string key, const struct stat& st);

std::string random_hex(size_t bytes);

Result<UniqueFd> open_fd(const std::string& path, int flags, std::string_view what);
Status write_all_at(int fd, std::string_view data, uint64_t at, const std::string& path);
// Writes the body's bytes (in memory, or a region of its file) at `at`.
Status write_body_at(int fd, const Body& body, uint64_t at, const std::string& path);
// Reads exactly `length` bytes at `offset`; fewer means the file shrank under us.
Result<std::string> read_exact(int fd, uint64_t offset, uint64_t length, const std::string& path);
// The same into caller memory, which must hold `length` bytes (preadv, no copy).
Status read_exact_into(int fd, uint64_t offset, uint64_t length, std::vector<iovec> into,
                       const std::string& path);

// Creates `path` through a temporary file in the same directory: write, fsync, rename, fsync
// the directory. Readers see the old content or the new, never a mix. Returns the new file's
// stat.
using FileWriter = std::function<Status(int fd, const std::string& temp_path)>;
Result<struct stat> write_atomically(const std::string& path, const FileWriter& write);

// mkdir -p of `dir`.
Status make_dirs(const std::string& dir);

}  // namespace shoal::file
