// Low-level local-file helpers for the file:// backend: opening, body writes, atomic
// replacement, and the ETag rule. Descriptors and whole reads/writes are common/unique_fd.h
// and common/fd_io.h.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <string>

#include "common/fd_io.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "store/object_store.h"

namespace shoal::file {

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
// Writes the body's bytes (in memory, or a region of its file) at `at`.
Status write_body_at(int fd, const Body& body, uint64_t at, const std::string& path);

// Creates `path` through a temporary file in the same directory: write, fsync, rename, fsync
// the directory. Readers see the old content or the new, never a mix. Returns the new file's
// stat.
using FileWriter = std::function<Status(int fd, const std::string& temp_path)>;
Result<struct stat> write_atomically(const std::string& path, const FileWriter& write);

// mkdir -p of `dir`.
Status make_dirs(const std::string& dir);

}  // namespace shoal::file
