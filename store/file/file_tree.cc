#include "store/file/file_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "store/file/file_io.h"

namespace shoal::file {
namespace {

constexpr size_t kUploadIdHexBytes = 16;
constexpr std::string_view kPartPrefix = "part-";

Error coded(ErrorKind kind, std::string message, std::string code) {
  Error e(kind, std::move(message));
  e.code = std::move(code);
  return e;
}

Error no_such_upload(const std::string& key, const std::string& upload_id) {
  return coded(ErrorKind::kNotFound,
               "no multipart upload " + upload_id + " for key " + key, "NoSuchUpload");
}

// Errors of a read whose path may not exist: a missing component is "not found" whatever
// errno said (ENOTDIR when a component is a file).
Error read_error(std::string_view what, const std::string& key, int err) {
  if (err == ENOTDIR) err = ENOENT;
  return errno_error(std::string(what) + " " + key, err);
}

std::string parent_path(const std::string& path) { return path.substr(0, path.rfind('/')); }

std::string part_name(int number) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%05d", kPartPrefix.data(), number);
  return buf;
}

bool is_upload_id(std::string_view id) {
  auto lower_hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  return id.size() == 2 * kUploadIdHexBytes && std::all_of(id.begin(), id.end(), lower_hex);
}

Error position_mismatch(const std::string& key, uint64_t position, uint64_t length) {
  return coded(ErrorKind::kPreconditionFailed,
               "append to " + key + " at position " + std::to_string(position) +
                   " but the object has " + std::to_string(length) + " bytes",
               "PositionNotEqualToLength");
}

Result<struct stat> stat_object(const std::string& path, const std::string& key) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return read_error("head", key, errno);
  if (!S_ISREG(st.st_mode))
    return Error(ErrorKind::kNotFound, "head " + key + ": not a regular file (directories are not "
                                                       "objects)");
  return st;
}

Result<std::string> read_file(const std::string& path) {
  SHOAL_ASSIGN(UniqueFd fd, open_fd(path, O_RDONLY, "open"));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error("stat " + path, errno);
  return pread_exact(fd.get(), 0, static_cast<uint64_t>(st.st_size), path);
}

Result<ByteRange> clamp_range(const GetQuery& q, uint64_t size) {
  if (!q.range) return ByteRange{0, size};
  const ByteRange& r = *q.range;
  if (r.length && *r.length == 0)
    return Error(ErrorKind::kInvalidArgument, "get " + q.key + ": a range of 0 bytes");
  if (r.offset >= size)
    return coded(ErrorKind::kRangeNotSatisfiable,
                 "get " + q.key + ": range starts at byte " + std::to_string(r.offset) +
                     " but the object has " + std::to_string(size) + " bytes",
                 "InvalidRange");
  uint64_t left = size - r.offset;
  return ByteRange{r.offset, r.length ? std::min(*r.length, left) : left};
}

}  // namespace

std::string key_path_problem(std::string_view key) {
  if (key.empty()) return "the key is empty";
  if (key.find('\0') != std::string_view::npos) return "the key holds a NUL byte";
  size_t start = 0;
  while (true) {
    size_t end = key.find('/', start);
    std::string_view seg = key.substr(start, end == std::string_view::npos ? end : end - start);
    if (seg.empty())
      return "file:// maps keys to paths, and an empty segment ('//', or a leading or trailing "
             "'/') has no path";
    if (seg == "." || seg == "..") return "a '.' or '..' segment has no path of its own";
    if (is_reserved_name(seg))
      return "'" + std::string(seg) + "' is reserved by the file:// backend";
    if (end == std::string_view::npos) return "";
    start = end + 1;
  }
}

FileTree::FileTree(std::string root) : root_(std::move(root)) {
  while (root_.ends_with('/')) root_.pop_back();
}

Capabilities FileTree::capabilities() {
  Capabilities c;
  c.append = true;
  c.if_match = true;
  c.crc64 = false;
  c.list_parts = true;
  return c;
}

std::string FileTree::path_of(const std::string& key) const { return root_ + "/" + key; }

Status FileTree::check_writable_key(const std::string& key) const {
  std::string problem = key_path_problem(key);
  if (problem.empty()) return {};
  return Error(ErrorKind::kInvalidArgument, "cannot store key '" + key + "': " + problem);
}

Result<ObjectInfo> FileTree::head(const std::string& key) const {
  std::string problem = key_path_problem(key);
  if (!problem.empty()) return Error(ErrorKind::kNotFound, "head " + key + ": " + problem);
  SHOAL_ASSIGN(struct stat st, stat_object(path_of(key), key));
  return info_from_stat(key, st);
}

Result<GetReply> FileTree::get(const GetQuery& q) const {
  std::string problem = key_path_problem(q.key);
  if (!problem.empty()) return Error(ErrorKind::kNotFound, "get " + q.key + ": " + problem);
  std::string path = path_of(q.key);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return read_error("get", q.key, errno);
  UniqueFd file(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_error("stat " + path, errno);
  if (!S_ISREG(st.st_mode))
    return Error(ErrorKind::kNotFound, "get " + q.key + ": not a regular file");
  GetReply reply;
  reply.info = info_from_stat(q.key, st);
  if (!q.if_match.empty() && q.if_match != reply.info.etag)
    return coded(ErrorKind::kPreconditionFailed,
                 "get " + q.key + ": ETag is " + reply.info.etag + ", not " + q.if_match +
                     "; the object changed",
                 "PreconditionFailed");
  SHOAL_ASSIGN(ByteRange range, clamp_range(q, reply.info.size));
  uint64_t room = 0;
  for (const iovec& v : q.into) room += v.iov_len;
  if (!q.into.empty() && room >= *range.length) {
    SHOAL_TRY(preadv_exact(fd, range.offset, *range.length, q.into, path));
    reply.in_place = true;
    reply.placed = *range.length;
  } else {
    SHOAL_ASSIGN(reply.data, pread_exact(fd, range.offset, *range.length, path));
  }
  reply.offset = range.offset;
  return reply;
}

Result<PutReply> FileTree::put(const std::string& key, const Body& body) const {
  SHOAL_TRY(check_writable_key(key));
  std::string path = path_of(key);
  SHOAL_TRY(make_dirs(parent_path(path)));
  auto st = write_atomically(path, [&](int fd, const std::string& temp) {
    return write_body_at(fd, body, 0, temp);
  });
  if (!st.ok()) return std::move(st).error().with_context("put " + key);
  PutReply reply;
  reply.etag = etag_of(*st);
  return reply;
}

Status FileTree::remove(const std::string& key) const {
  if (!key_path_problem(key).empty()) return {};  // such a key cannot exist here
  if (::unlink(path_of(key).c_str()) == 0) return {};
  // As in S3, deleting what is not there succeeds; a directory is not an object.
  if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR) return {};
  return errno_error("delete " + key, errno);
}

Result<std::string> FileTree::staging_dir(const std::string& key,
                                          const std::string& upload_id) const {
  if (!key_path_problem(key).empty() || !is_upload_id(upload_id))
    return no_such_upload(key, upload_id);
  std::string dir = parent_path(path_of(key)) + "/" + std::string(kStagingDirName) + "/" +
                    upload_id;
  auto owner = read_file(dir + "/key");
  if (!owner.ok() && owner.error().kind == ErrorKind::kNotFound)
    return no_such_upload(key, upload_id);
  SHOAL_TRY(owner);
  if (*owner != key) return no_such_upload(key, upload_id);
  return dir;
}

Result<std::string> FileTree::create_multipart(const std::string& key) const {
  SHOAL_TRY(check_writable_key(key));
  std::string upload_id = random_hex(kUploadIdHexBytes);
  std::string dir = parent_path(path_of(key)) + "/" + std::string(kStagingDirName) + "/" +
                    upload_id;
  SHOAL_TRY(make_dirs(dir));
  auto st = write_atomically(dir + "/key", [&](int fd, const std::string& temp) {
    return pwrite_all(fd, key, 0, "write " + temp);
  });
  if (!st.ok()) return std::move(st).error().with_context("create multipart upload for " + key);
  return upload_id;
}

Result<PartInfo> FileTree::upload_part(const std::string& key, const std::string& upload_id,
                                       int number, const Body& body) const {
  Capabilities caps = capabilities();
  if (number < 1 || number > caps.max_parts)
    return Error(ErrorKind::kInvalidArgument, "upload part of " + key + ": part number " +
                                                  std::to_string(number) + " is not in 1.." +
                                                  std::to_string(caps.max_parts));
  if (body.size() > caps.max_part_size)
    return coded(ErrorKind::kInvalidArgument, "upload part of " + key + ": part of " +
                                                  std::to_string(body.size()) + " bytes is too big",
                 "EntityTooLarge");
  SHOAL_ASSIGN(std::string dir, staging_dir(key, upload_id));
  auto st = write_atomically(dir + "/" + part_name(number), [&](int fd, const std::string& temp) {
    return write_body_at(fd, body, 0, temp);
  });
  if (!st.ok()) return std::move(st).error().with_context("upload part of " + key);
  return PartInfo{number, etag_of(*st), static_cast<uint64_t>(st->st_size), std::nullopt};
}

Result<std::vector<PartInfo>> FileTree::staged_parts(const std::string& dir) const {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return errno_error("open " + dir, errno);
  std::vector<PartInfo> parts;
  while (const dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    int number = 0;
    if (!name.starts_with(kPartPrefix) || std::sscanf(e->d_name + kPartPrefix.size(), "%d",
                                                      &number) != 1)
      continue;
    struct stat st {};
    if (::stat((dir + "/" + e->d_name).c_str(), &st) != 0) continue;  // raced with an abort
    parts.push_back(PartInfo{number, etag_of(st), static_cast<uint64_t>(st.st_size), std::nullopt});
  }
  ::closedir(d);
  std::sort(parts.begin(), parts.end(),
            [](const PartInfo& a, const PartInfo& b) { return a.number < b.number; });
  return parts;
}

Result<std::vector<PartInfo>> FileTree::list_parts(const std::string& key,
                                                   const std::string& upload_id) const {
  SHOAL_ASSIGN(std::string dir, staging_dir(key, upload_id));
  return staged_parts(dir);
}

// S3's rules: parts listed in ascending order, each one uploaded with the ETag given, and
// all but the last at least the minimum part size.
Status FileTree::check_parts(const std::vector<PartInfo>& parts, const std::string& dir) const {
  if (parts.empty())
    return coded(ErrorKind::kInvalidArgument, "completing an upload needs at least one part",
                 "MalformedXML");
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].number <= parts[i - 1].number)
      return coded(ErrorKind::kInvalidArgument, "parts must be listed in ascending order",
                   "InvalidPartOrder");
  }
  SHOAL_ASSIGN(std::vector<PartInfo> staged, staged_parts(dir));
  for (size_t i = 0; i < parts.size(); ++i) {
    const PartInfo& p = parts[i];
    auto it = std::find_if(staged.begin(), staged.end(),
                           [&](const PartInfo& s) { return s.number == p.number; });
    if (it == staged.end() || it->etag != p.etag)
      return coded(ErrorKind::kInvalidArgument,
                   "part " + std::to_string(p.number) + " was not uploaded with ETag " + p.etag,
                   "InvalidPart");
    if (i + 1 < parts.size() && it->size < capabilities().min_part_size)
      return coded(ErrorKind::kInvalidArgument,
                   "part " + std::to_string(p.number) + " has " + std::to_string(it->size) +
                       " bytes; every part but the last needs at least " +
                       std::to_string(capabilities().min_part_size),
                   "EntityTooSmall");
  }
  return {};
}

Result<PutReply> FileTree::complete_multipart(const std::string& key, const std::string& upload_id,
                                              const std::vector<PartInfo>& parts) const {
  SHOAL_ASSIGN(std::string dir, staging_dir(key, upload_id));
  Status valid = check_parts(parts, dir);
  if (!valid.ok()) return std::move(valid).error().with_context("complete upload of " + key);
  auto st = write_atomically(path_of(key), [&](int fd, const std::string& temp) -> Status {
    uint64_t at = 0;
    for (const PartInfo& p : parts) {
      Body part = Body::from_file(dir + "/" + part_name(p.number), 0, p.size);
      SHOAL_TRY(write_body_at(fd, part, at, temp));
      at += p.size;
    }
    return {};
  });
  if (!st.ok()) return std::move(st).error().with_context("complete upload of " + key);
  SHOAL_TRY(abort_multipart(key, upload_id));
  PutReply reply;
  reply.etag = etag_of(*st);
  return reply;
}

Status FileTree::abort_multipart(const std::string& key, const std::string& upload_id) const {
  SHOAL_ASSIGN(std::string dir, staging_dir(key, upload_id));
  // The key file goes last: an upload exists while it does, so a process killed halfway
  // through an abort leaves an upload that a second abort finishes, never parts that no
  // upload id reaches any more.
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return errno_error("open " + dir, errno);
  std::vector<std::string> staged;
  while (const dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name != "." && name != ".." && name != "key") staged.emplace_back(name);
  }
  ::closedir(d);
  for (const std::string& name : staged) {
    std::string path = dir + "/" + name;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_error("remove " + path, errno);
  }
  std::string owner = dir + "/key";
  if (::unlink(owner.c_str()) != 0 && errno != ENOENT) return errno_error("remove " + owner, errno);
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) return errno_error("remove " + dir, errno);
  ::rmdir(parent_path(dir).c_str());  // the staging root, when no other upload uses it
  return {};
}

Result<PutReply> FileTree::append(const std::string& key, uint64_t position,
                                  const Body& body) const {
  SHOAL_TRY(check_writable_key(key));
  std::string path = path_of(key);
  if (position == 0) SHOAL_TRY(make_dirs(parent_path(path)));
  // Only position 0 may create the object, so a wrong position never leaves an empty one.
  auto fd = open_fd(path, O_WRONLY | (position == 0 ? O_CREAT : 0), "append to");
  if (!fd.ok() && fd.error().kind == ErrorKind::kNotFound)
    return position_mismatch(key, position, 0);
  SHOAL_TRY(fd);
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return errno_error("stat " + path, errno);
  if (static_cast<uint64_t>(st.st_size) != position)
    return position_mismatch(key, position, static_cast<uint64_t>(st.st_size));
  SHOAL_TRY(write_body_at(fd->get(), body, position, path));
  if (::fsync(fd->get()) != 0) return errno_error("fsync " + path, errno);
  if (::fstat(fd->get(), &st) != 0) return errno_error("stat " + path, errno);
  PutReply reply;
  reply.etag = etag_of(st);
  reply.next_append_position = position + body.size();
  return reply;
}

}  // namespace shoal::file
