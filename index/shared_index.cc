#include "index/shared_index.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/unique_fd.h"
#include "index/index_file.h"

namespace shoal::index {
namespace {

namespace fs = std::filesystem;

// A full check: what `shoal index verify` does.
Status verify(const std::string& path) {
  SHOAL_ASSIGN(IndexFile file, IndexFile::open(path));
  return file.check_entries();
}

// GETs the object, pinned to `etag`, straight into a file of its size mapped in memory: an index
// of a million objects is ~170 MB, which need not pass through a string.
Status download(BlockingStore& store, const std::string& key, const ObjectInfo& head,
                const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return errno_error("creating " + path, errno);
  if (head.size == 0) return Error(ErrorKind::kCorrupt, "index object " + key + " is empty");
  if (::ftruncate(fd.get(), static_cast<off_t>(head.size)) != 0)
    return errno_error("sizing " + path, errno);
  void* map = ::mmap(nullptr, head.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (map == MAP_FAILED) return errno_error("mapping " + path, errno);
  struct Unmap {
    void* p;
    size_t n;
    ~Unmap() { ::munmap(p, n); }
  } unmap{map, head.size};
  GetQuery query;
  query.key = key;
  query.if_match = head.etag;
  query.into = {iovec{map, head.size}};
  SHOAL_ASSIGN(GetReply reply, store.get(std::move(query)));
  if (!reply.in_place) {
    if (reply.data.size() != head.size)
      return Error(ErrorKind::kIntegrity, "index object " + key + " arrived with " +
                                              std::to_string(reply.data.size()) + " of " +
                                              std::to_string(head.size) + " bytes");
    std::memcpy(map, reply.data.data(), head.size);
  } else if (reply.placed != head.size) {
    return Error(ErrorKind::kIntegrity, "index object " + key + " arrived with " +
                                            std::to_string(reply.placed) + " of " +
                                            std::to_string(head.size) + " bytes");
  }
  if (::msync(map, head.size, MS_SYNC) != 0 || ::fsync(fd.get()) != 0)
    return errno_error("writing " + path, errno);
  return {};
}

}  // namespace

Result<SharedIndex> fetch_shared_index(BlockingStore& store, const ObjectUri& uri,
                                       const std::string& cache_dir,
                                       std::string (*name_of)(std::string_view text)) {
  SHOAL_ASSIGN(ObjectInfo head, store.head(uri.prefix));
  SharedIndex out;
  out.etag = head.etag;
  out.bytes = head.size;
  out.path = cache_dir + "/shared-" + name_of(uri.to_string() + "\n" + head.etag) + ".shix";
  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  if (ec)
    return Error(ErrorKind::kIo, "creating the index cache " + cache_dir + ": " + ec.message());
  if (fs::exists(out.path, ec)) {
    // A copy fetched by an earlier mount; it was verified before it got this name, but the
    // disk may have changed it since: check it again (memory speed), fetch anew if it fails.
    if (fs::file_size(out.path, ec) == head.size && verify(out.path).ok()) return out;
    fs::remove(out.path, ec);
  }
  std::string partial = out.path + ".partial." + std::to_string(::getpid());
  Status fetched = download(store, uri.prefix, head, partial);
  if (fetched.ok()) {
    Status checked = verify(partial);
    if (!checked.ok()) {
      fetched = Error(ErrorKind::kCorrupt, "index object " + uri.to_string() +
                                               " is not a valid index (" +
                                               checked.error().describe() +
                                               "): rebuild it with shoal index build");
    }
  }
  if (!fetched.ok()) {
    fs::remove(partial, ec);
    return fetched.error();
  }
  if (::rename(partial.c_str(), out.path.c_str()) != 0) {
    Error e = errno_error("renaming " + partial, errno);
    fs::remove(partial, ec);
    return e;
  }
  out.fetched = true;
  return out;
}

}  // namespace shoal::index
