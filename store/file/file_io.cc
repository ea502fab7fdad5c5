#include "store/file/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <random>
#include <vector>

namespace shoal::file {

bool is_reserved_name(std::string_view name) {
  return name == kStagingDirName || name.starts_with(kTempPrefix);
}

int64_t mtime_ns_of(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

std::string etag_of(const struct stat& st) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%llx-%llx-%llx", static_cast<unsigned long long>(st.st_size),
                static_cast<unsigned long long>(mtime_ns_of(st)),
                static_cast<unsigned long long>(st.st_ino));
  return buf;
}

ObjectInfo info_from_stat(std::string key, const struct stat& st) {
  ObjectInfo info;
  info.key = std::move(key);
  info.size = static_cast<uint64_t>(st.st_size);
  info.etag = etag_of(st);
  info.mtime_ns = mtime_ns_of(st);
  return info;
}

std::string random_hex(size_t bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::random_device rd;
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xff;
    out += kDigits[v >> 4];
    out += kDigits[v & 0xf];
  }
  return out;
}

Result<UniqueFd> open_fd(const std::string& path, int flags, std::string_view what) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) return errno_error(std::string(what) + " " + path, errno);
  return UniqueFd(fd);
}

namespace {

constexpr uint64_t kCopyChunk = 1 << 20;

Status copy_file_region(int out_fd, const Body& body, uint64_t at, const std::string& out_path) {
  SHOAL_ASSIGN(UniqueFd in, open_fd(body.path, O_RDONLY, "open body file"));
  for (uint64_t done = 0; done < body.length;) {
    uint64_t chunk = std::min(kCopyChunk, body.length - done);
    auto bytes = pread_exact(in.get(), body.offset + done, chunk, body.path);
    if (!bytes.ok() && bytes.error().kind == ErrorKind::kIntegrity)
      return Error(ErrorKind::kInvalidArgument,
                   "body file " + body.path + " has fewer than " + std::to_string(body.length) +
                       " bytes at offset " + std::to_string(body.offset));
    SHOAL_TRY(bytes);
    SHOAL_TRY(pwrite_all(out_fd, *bytes, at + done, "write " + out_path));
    done += chunk;
  }
  return {};
}

std::string parent_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

Status fsync_dir(const std::string& dir) {
  SHOAL_ASSIGN(UniqueFd fd, open_fd(dir, O_RDONLY | O_DIRECTORY, "open directory"));
  if (::fsync(fd.get()) != 0) return errno_error("fsync " + dir, errno);
  return {};
}

Result<struct stat> write_and_sync(const std::string& temp, const FileWriter& write) {
  SHOAL_ASSIGN(UniqueFd fd, open_fd(temp, O_WRONLY | O_CREAT | O_EXCL, "create"));
  SHOAL_TRY(write(fd.get(), temp));
  if (::fsync(fd.get()) != 0) return errno_error("fsync " + temp, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error("stat " + temp, errno);
  return st;
}

}  // namespace

Status write_body_at(int fd, const Body& body, uint64_t at, const std::string& path) {
  if (body.is_file()) return copy_file_region(fd, body, at, path);
  return pwrite_all(fd, body.data, at, "write " + path);
}

Result<struct stat> write_atomically(const std::string& path, const FileWriter& write) {
  std::string dir = parent_of(path);
  std::string temp = dir + "/" + std::string(kTempPrefix) + random_hex(8);
  auto st = write_and_sync(temp, write);
  if (st.ok() && ::rename(temp.c_str(), path.c_str()) != 0)
    st = errno_error("rename into " + path, errno);
  if (!st.ok()) {
    ::unlink(temp.c_str());
    return st;
  }
  SHOAL_TRY(fsync_dir(dir));
  return st;
}

Status make_dirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return errno_error("create directory " + dir, ec.value());
  return {};
}

}  // namespace shoal::file
