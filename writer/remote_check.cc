#include "writer/remote_check.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <memory>

#include "common/fd_io.h"
#include "common/unique_fd.h"
#include "store/hash.h"
#include "store/transfer.h"

namespace shoal {
namespace {

constexpr uint64_t kReadBackChunk = 8ull << 20;

bool is_hex(std::string_view s) {
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// "d41d8cd98f00b204e9800998ecf8427e" (one PUT) or "<32 hex>-<part count>" (multipart).
struct Md5Etag {
  std::string hex;
  int parts = 0;  // 0: a single PUT
};

std::optional<Md5Etag> parse_md5_etag(const std::string& etag) {
  if (etag.size() < 32 || !is_hex(std::string_view(etag).substr(0, 32))) return std::nullopt;
  Md5Etag out;
  out.hex = etag.substr(0, 32);
  for (char& c : out.hex) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (etag.size() == 32) return out;
  std::string_view count = std::string_view(etag).substr(32);
  if (count.size() < 2 || count[0] != '-' || count.size() > 6) return std::nullopt;
  count.remove_prefix(1);
  for (char c : count)
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  out.parts = std::stoi(std::string(count));
  return out;
}

Result<bool> md5_etag_matches(const Md5Etag& etag, const std::string& path, uint64_t size,
                              uint64_t part_size) {
  if (etag.parts == 0) {
    SHOAL_ASSIGN(std::string md5, file_md5(path, 0, size));
    return hex_encode(md5) == etag.hex;
  }
  if (part_size == 0 || (size + part_size - 1) / part_size != static_cast<uint64_t>(etag.parts))
    return false;
  std::string concatenated;
  for (uint64_t offset = 0; offset < size; offset += part_size) {
    SHOAL_ASSIGN(std::string md5, file_md5(path, offset, std::min(part_size, size - offset)));
    concatenated += md5;
  }
  return hex_encode(::shoal::md5(concatenated)) == etag.hex;
}

// Reads the object back chunk by chunk, pinned to the ETag HEAD gave, and compares bytes.
class ReadBack : public std::enable_shared_from_this<ReadBack> {
 public:
  ReadBack(ObjectStore& store, ObjectInfo info, std::string path, Done<bool> done)
      : store_(store), info_(std::move(info)), path_(std::move(path)), done_(std::move(done)) {}

  void start() {
    fd_.reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd_) return done_(errno_error("open " + path_, errno));
    next();
  }

 private:
  void next() {
    if (offset_ >= info_.size) return done_(true);
    uint64_t length = std::min(kReadBackChunk, info_.size - offset_);
    GetQuery q{.key = info_.key, .range = ByteRange{offset_, length},
               .if_match = store_.capabilities().if_match ? info_.etag : ""};
    store_.get(std::move(q), [self = shared_from_this(), length](Result<GetReply> reply) {
      self->on_chunk(length, std::move(reply));
    });
  }

  void on_chunk(uint64_t length, Result<GetReply> reply) {
    if (!reply.ok()) {
      // The object changed or vanished under us: it is not (any longer) the one we want.
      if (reply.error().kind == ErrorKind::kPreconditionFailed ||
          reply.error().kind == ErrorKind::kNotFound)
        return done_(false);
      return done_(std::move(reply).error());
    }
    auto local = pread_exact(fd_.get(), offset_, length, path_);
    if (!local.ok()) return done_(std::move(local).error());
    if (reply->data != *local) return done_(false);
    offset_ += length;
    next();
  }

  ObjectStore& store_;
  ObjectInfo info_;
  std::string path_;
  Done<bool> done_;
  UniqueFd fd_;
  uint64_t offset_ = 0;
};

void compare_content(ObjectStore& store, const ObjectInfo& info, const std::string& path,
                     uint64_t part_size, Done<bool> done) {
  if (info.crc64) {
    auto local = file_crc64(path, 0, info.size);
    if (!local.ok()) return done(std::move(local).error());
    return done(*local == *info.crc64);
  }
  if (auto etag = parse_md5_etag(info.etag)) return done(md5_etag_matches(*etag, path, info.size, part_size));
  if (info.size == 0) return done(true);
  std::make_shared<ReadBack>(store, info, path, std::move(done))->start();
}

}  // namespace

Result<std::string> file_md5(const std::string& path, uint64_t offset, uint64_t length) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error("open " + path, errno);
  Digest digest = Digest::md5();
  for (uint64_t done = 0; done < length;) {
    uint64_t n = std::min<uint64_t>(length - done, 1u << 20);
    SHOAL_ASSIGN(std::string chunk, pread_exact(fd.get(), offset + done, n, path));
    digest.update(chunk);
    done += n;
  }
  return digest.finish();
}

void remote_matches(ObjectStore& store, std::string key, std::string path, uint64_t size,
                    uint64_t part_size, Done<RemoteMatch> done) {
  store.head(key, [&store, key, path = std::move(path), size, part_size,
                   done = std::move(done)](Result<ObjectInfo> info) mutable {
    if (!info.ok()) {
      if (info.error().kind == ErrorKind::kNotFound) return done(RemoteMatch());
      return done(std::move(info).error());
    }
    if (info->size != size) return done(RemoteMatch());
    info->key = key;
    std::string etag = info->etag;
    compare_content(store, *info, path, part_size,
                    [etag, done = std::move(done)](Result<bool> same) {
                      if (!same.ok()) return done(std::move(same).error());
                      done(*same ? RemoteMatch(etag) : RemoteMatch());
                    });
  });
}

}  // namespace shoal
