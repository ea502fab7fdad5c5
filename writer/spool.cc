#include "writer/spool.h"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "common/unique_fd.h"

namespace shoal {
namespace {

int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

Status fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return errno_error("open " + path, errno);
  UniqueFd closer(fd);
  if (::fsync(fd) != 0) return errno_error("fsync " + path, errno);
  return {};
}

Status copy_bytes(int from, int to, uint64_t size, const std::string& source) {
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::sendfile(to, from, nullptr, static_cast<size_t>(std::min<uint64_t>(
                                                  size - done, 1u << 30)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("copy " + source + " into the spool", errno);
    if (n == 0) break;  // the source shrank: the copy holds what was there
    done += static_cast<uint64_t>(n);
  }
  return {};
}

}  // namespace

Result<FileIdentity> identify_file(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return errno_error("stat " + path, errno);
  if (!S_ISREG(st.st_mode))
    return Error(ErrorKind::kInvalidArgument, path + " is not a regular file");
  return FileIdentity{static_cast<uint64_t>(st.st_size), mtime_ns(st)};
}

Result<Spool> Spool::open(std::string dir, uint64_t budget) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error(ErrorKind::kIo, "create spool directory " + dir + ": " + ec.message());
  return Spool(std::move(dir), budget);
}

std::string Spool::path_of(uint64_t upload_id) const {
  return dir_ + "/" + std::to_string(upload_id);
}

Result<CapturedFile> Spool::capture(const std::string& source, uint64_t upload_id) const {
  std::string target = path_of(upload_id);
  ::unlink(target.c_str());  // a leftover of a capture whose record never became durable
  CapturedFile out;
  if (::link(source.c_str(), target.c_str()) == 0) {
    out.path = target;
  } else if (errno == EXDEV || errno == EPERM || errno == EMLINK) {
    SHOAL_ASSIGN(out, copy_in(source, target));
  } else {
    return errno_error("link " + source + " into spool " + dir_, errno);
  }
  struct stat st {};
  if (::stat(target.c_str(), &st) != 0) return errno_error("stat " + target, errno);
  out.size = static_cast<uint64_t>(st.st_size);
  out.mtime_ns = mtime_ns(st);
  // The job may never have synced its file: make the bytes and the new name survive a crash
  // before the journal says the file is ours.
  Status synced = fsync_path(target, O_RDONLY);
  if (synced.ok()) synced = fsync_path(dir_, O_RDONLY | O_DIRECTORY);
  if (!synced.ok()) {
    ::unlink(target.c_str());
    return std::move(synced).error();
  }
  return out;
}

Result<CapturedFile> Spool::copy_in(const std::string& source, const std::string& target) const {
  int from = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
  if (from < 0) return errno_error("open " + source, errno);
  UniqueFd from_closer(from);
  struct stat st {};
  if (::fstat(from, &st) != 0) return errno_error("stat " + source, errno);
  std::string temp = target + ".copy";
  int to = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (to < 0) return errno_error("create " + temp, errno);
  UniqueFd to_closer(to);
  Status copied = copy_bytes(from, to, static_cast<uint64_t>(st.st_size), source);
  if (copied.ok() && ::rename(temp.c_str(), target.c_str()) != 0)
    copied = errno_error("rename " + temp, errno);
  if (!copied.ok()) {
    ::unlink(temp.c_str());
    return std::move(copied).error();
  }
  CapturedFile out;
  out.path = target;
  out.copied = true;
  return out;
}

Status Spool::release(const std::string& path, uint64_t size) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_error("remove " + path, errno);
  used_ -= std::min(used_, size);
  return {};
}

Status Spool::remove_orphans(const std::set<std::string>& live) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    std::string path = entry.path().string();
    if (live.count(path)) continue;
    std::error_code type_ec;
    if (entry.is_directory(type_ec)) {  // the watcher's landing directory: transient links
      std::filesystem::remove_all(entry.path(), type_ec);
      continue;
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return errno_error("remove orphaned spool entry " + path, errno);
  }
  if (ec) return Error(ErrorKind::kIo, "list spool " + dir_ + ": " + ec.message());
  return {};
}

}  // namespace shoal
