#include "store/transfer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "store/crc64.h"

namespace shoal {

uint64_t choose_part_size(uint64_t file_size, const Capabilities& caps) {
  uint64_t part = 8ull << 20;
  const uint64_t max_parts = static_cast<uint64_t>(std::max(caps.max_parts, 1));
  while (part < caps.max_part_size && (file_size + part - 1) / part > max_parts) part *= 2;
  return std::clamp(part, caps.min_part_size, caps.max_part_size);
}

Result<uint64_t> file_crc64(const std::string& path, uint64_t offset, uint64_t length) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("open " + path, errno);
  std::string buf(std::min<uint64_t>(length, 1u << 20), '\0');
  uint64_t crc = 0;
  uint64_t done = 0;
  while (done < length) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), length - done));
    ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      ::close(fd);
      if (n == 0) return Error(ErrorKind::kIo, path + " shrank while being read at offset " +
                                                   std::to_string(offset + done));
      return errno_error("read " + path, err);
    }
    crc = crc64_update(crc, std::string_view(buf.data(), static_cast<size_t>(n)));
    done += static_cast<uint64_t>(n);
  }
  ::close(fd);
  return crc;
}

namespace {

Result<uint64_t> file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno_error("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) return Error(ErrorKind::kInvalidArgument, path + " is not a regular file");
  return static_cast<uint64_t>(st.st_size);
}

// One multipart upload in flight. Owned by shared_ptr copies held by its callbacks, so it
// lives exactly as long as some request of it is outstanding.
class MultipartUpload : public std::enable_shared_from_this<MultipartUpload> {
 public:
  MultipartUpload(ObjectStore& store, std::string path, std::string key, uint64_t size,
                  UploadOptions options, Done<PutReply> done)
      : store_(store), path_(std::move(path)), key_(std::move(key)), size_(size),
        options_(std::move(options)), done_(std::move(done)) {
    part_size_ = options_.part_size ? options_.part_size
                                    : choose_part_size(size_, store_.capabilities());
    part_count_ = static_cast<int>((size_ + part_size_ - 1) / part_size_);
    parts_.resize(static_cast<size_t>(part_count_));
  }

  void start() {
    auto self = shared_from_this();
    store_.create_multipart(key_, [self](Result<std::string> id) {
      if (!id.ok()) return self->finish(std::move(id).error().with_context("starting multipart upload of " + self->key_));
      self->upload_id_ = *id;
      self->launch_parts();
    });
  }

 private:
  uint64_t part_offset(int number) const { return static_cast<uint64_t>(number - 1) * part_size_; }
  uint64_t part_length(int number) const {
    return std::min(part_size_, size_ - part_offset(number));
  }

  void launch_parts() {
    while (!failed_ && in_flight_ < std::max(options_.parallel_parts, 1) && next_part_ <= part_count_)
      send_part(next_part_++);
    if (in_flight_ == 0) on_all_parts_settled();
  }

  void send_part(int number) {
    ++in_flight_;
    auto self = shared_from_this();
    Body body = Body::from_file(path_, part_offset(number), part_length(number));
    store_.upload_part(key_, upload_id_, number, std::move(body),
                       [self, number](Result<PartInfo> part) { self->on_part(number, std::move(part)); });
  }

  void on_part(int number, Result<PartInfo> part) {
    --in_flight_;
    if (!part.ok() && !failed_) {
      failed_ = std::move(part).error().with_context("part " + std::to_string(number) + " of " +
                                                     std::to_string(part_count_) + " of " + key_);
    } else if (part.ok()) {
      Status checked = check_part(number, *part);
      if (!checked.ok() && !failed_) failed_ = std::move(checked).error();
      parts_[static_cast<size_t>(number - 1)] = std::move(*part);
      bytes_done_ += part_length(number);
      if (options_.progress) options_.progress(bytes_done_, size_);
    }
    launch_parts();
  }

  // Compares the store's CRC of a part with the file's, so a corrupted part is caught before
  // the object is assembled rather than after.
  Status check_part(int number, PartInfo& part) {
    part.number = number;
    part.size = part_length(number);
    SHOAL_ASSIGN(uint64_t local, file_crc64(path_, part_offset(number), part.size));
    if (part.crc64 && *part.crc64 != local)
      return Error(ErrorKind::kIntegrity, "part " + std::to_string(number) + " of " + key_ +
                                              ": CRC-64 mismatch between file and store");
    part.crc64 = local;
    return {};
  }

  void on_all_parts_settled() {
    if (failed_) return abort_and_finish();
    auto self = shared_from_this();
    store_.complete_multipart(key_, upload_id_, parts_, [self](Result<PutReply> reply) {
      if (!reply.ok()) return self->finish(std::move(reply).error().with_context("completing upload of " + self->key_));
      self->finish(self->check_whole(std::move(*reply)));
    });
  }

  Result<PutReply> check_whole(PutReply reply) const {
    uint64_t crc = 0;
    for (const PartInfo& p : parts_) crc = crc64_combine(crc, *p.crc64, p.size);
    if (reply.crc64 && *reply.crc64 != crc)
      return Error(ErrorKind::kIntegrity, key_ + ": CRC-64 of the assembled object differs from the file's");
    reply.crc64 = crc;
    return reply;
  }

  void abort_and_finish() {
    auto self = shared_from_this();
    store_.abort_multipart(key_, upload_id_, [self](Result<void>) { self->finish(*self->failed_); });
  }

  void finish(Result<PutReply> result) {
    if (done_) std::exchange(done_, nullptr)(std::move(result));
  }

  ObjectStore& store_;
  std::string path_, key_;
  uint64_t size_;
  UploadOptions options_;
  Done<PutReply> done_;
  uint64_t part_size_ = 0;
  int part_count_ = 0;
  std::string upload_id_;
  std::vector<PartInfo> parts_;
  int next_part_ = 1;
  int in_flight_ = 0;
  uint64_t bytes_done_ = 0;
  std::optional<Error> failed_;
};

}  // namespace

void upload_file(ObjectStore& store, Reactor& reactor, std::string path, std::string key,
                 UploadOptions options, Done<PutReply> done) {
  Result<uint64_t> size = file_size(path);
  if (!size.ok()) {
    reactor.post([err = std::move(size).error(), done = std::move(done)] { done(err); });
    return;
  }
  if (*size < options.multipart_threshold) {
    auto progress = options.progress;
    uint64_t total = *size;
    store.put(std::move(key), Body::from_file(path, 0, *size),
              [progress, total, done = std::move(done)](Result<PutReply> r) {
                if (r.ok() && progress) progress(total, total);
                done(std::move(r));
              });
    return;
  }
  std::make_shared<MultipartUpload>(store, std::move(path), std::move(key), *size,
                                    std::move(options), std::move(done))->start();
}

}  // namespace shoal
