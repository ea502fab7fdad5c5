#include "store/transfer.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "common/fd_io.h"
#include "common/unique_fd.h"
#include "store/crc64.h"
#include "store/rest/body_digest.h"

namespace shoal {

uint64_t choose_part_size(uint64_t file_size, const Capabilities& caps) {
  uint64_t part = 8ull << 20;
  const uint64_t max_parts = static_cast<uint64_t>(std::max(caps.max_parts, 1));
  while (part < caps.max_part_size && (file_size + part - 1) / part > max_parts) part *= 2;
  return std::clamp(part, caps.min_part_size, caps.max_part_size);
}

uint64_t upload_part_size(const UploadOptions& options, uint64_t size, const Capabilities& caps) {
  uint64_t part = options.part_size ? options.part_size : choose_part_size(size, caps);
  return std::clamp(part, caps.min_part_size, caps.max_part_size);
}

Result<uint64_t> file_crc64(const std::string& path, uint64_t offset, uint64_t length) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error("open " + path, errno);
  std::string buf(static_cast<size_t>(std::min<uint64_t>(length, 1u << 20)), '\0');
  uint64_t crc = 0;
  for (uint64_t done = 0; done < length;) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), length - done));
    SHOAL_ASSIGN(size_t n, pread_full(fd.get(), buf.data(), want, offset + done, "read " + path));
    if (n < want)
      return Error(ErrorKind::kIo, path + " shrank while being read at offset " +
                                       std::to_string(offset + done + n));
    crc = crc64_update(crc, std::string_view(buf.data(), n));
    done += n;
  }
  return crc;
}

namespace {

Error integrity_error(const std::string& what) { return Error(ErrorKind::kIntegrity, what); }

// Reads a region of the file on a worker for the checksums the store sends (and the CRC-64
// when `crc64`), then hands the body, with them, to `send` on the loop.
void digest_then(BlockingPool& workers, const Capabilities& caps, bool crc64, Body body,
                 std::function<void(Result<Body>)> send) {
  workers.run<Result<Body>>(
      [body = std::move(body), md5 = caps.content_md5, crc64]() mutable -> Result<Body> {
        SHOAL_TRY(add_upload_digests(body, md5, crc64));
        return std::move(body);
      },
      std::move(send));
}

void put_whole(ObjectStore& store, BlockingPool& workers, FileUpload file, UploadOptions options,
               Done<PutReply> done) {
  // The stored object's CRC-64 is checked where the store reports one.
  Capabilities caps = store.capabilities();
  Body body = Body::from_file(file.path, 0, file.size);
  digest_then(workers, caps, caps.crc64, std::move(body),
              [&store, key = file.key, size = file.size, progress = std::move(options.progress),
               done = std::move(done)](Result<Body> digested) mutable {
                if (!digested.ok()) return done(std::move(digested).error());
                std::optional<uint64_t> local = digested->crc64;
                store.put(key, std::move(*digested),
                          [key, size, local, progress = std::move(progress),
                           done = std::move(done)](Result<PutReply> reply) {
                            if (reply.ok() && reply->crc64 && local && *reply->crc64 != *local)
                              return done(integrity_error(
                                  key + ": CRC-64 of the stored object differs from the file's"));
                            if (reply.ok() && progress) progress(size, size);
                            done(std::move(reply));
                          });
              });
}

// One multipart upload in flight. Owned by shared_ptr copies held by its callbacks, so it
// lives exactly as long as some request of it is outstanding.
class MultipartUpload : public std::enable_shared_from_this<MultipartUpload> {
 public:
  MultipartUpload(ObjectStore& store, BlockingPool& workers, FileUpload file,
                  UploadOptions options, Done<PutReply> done)
      : store_(store), workers_(workers), file_(std::move(file)), options_(std::move(options)),
        done_(std::move(done)) {}

  void start() {
    if (!file_.resume) return create();
    auto self = shared_from_this();
    store_.list_parts(file_.key, file_.resume->multipart_id,
                      [self](Result<std::vector<PartInfo>> listed) {
                        self->on_listed(std::move(listed));
                      });
  }

 private:
  // Keeps the recorded parts the store still has, unchanged; anything else is redone.
  void on_listed(Result<std::vector<PartInfo>> listed) {
    if (!listed.ok()) return abort_previous();
    part_size_ = file_.resume->part_size;
    multipart_id_ = file_.resume->multipart_id;
    plan_parts();
    for (const PartInfo& p : *listed) {
      auto it = file_.resume->parts.find(p.number);
      if (it == file_.resume->parts.end() || it->second.etag != p.etag || p.number < 1 ||
          p.number > part_count_ || it->second.size != part_length(p.number) || !it->second.crc64)
        continue;
      parts_[static_cast<size_t>(p.number - 1)] =
          PartInfo{p.number, p.etag, it->second.size, it->second.crc64};
      bytes_done_ += it->second.size;
      resumed_bytes_ += it->second.size;
    }
    launch_parts();
  }

  void abort_previous() {
    auto self = shared_from_this();
    store_.abort_multipart(file_.key, file_.resume->multipart_id, [self](Result<void>) {
      self->create();  // best effort: an upload the store forgot needs no abort
    });
  }

  void create() {
    part_size_ = upload_part_size(options_, file_.size, store_.capabilities());
    plan_parts();
    auto self = shared_from_this();
    store_.create_multipart(file_.key, [self](Result<std::string> id) {
      if (!id.ok())
        return self->finish(std::move(id).error().with_context("starting multipart upload of " +
                                                               self->file_.key));
      self->multipart_id_ = *id;
      if (!self->file_.journal) return self->launch_parts();
      self->file_.journal->started(*id, self->part_size_, [self](Status durable) {
        if (!durable.ok()) return self->finish(std::move(durable).error());
        self->launch_parts();
      });
    });
  }

  void plan_parts() {
    part_count_ =
        static_cast<int>(std::max<uint64_t>(1, (file_.size + part_size_ - 1) / part_size_));
    parts_.assign(static_cast<size_t>(part_count_), PartInfo{});
  }
  uint64_t part_offset(int number) const { return static_cast<uint64_t>(number - 1) * part_size_; }
  uint64_t part_length(int number) const {
    return std::min(part_size_, file_.size - std::min(file_.size, part_offset(number)));
  }

  void launch_parts() {
    while (!failed_ && in_flight_ < std::max(options_.parallel_parts, 1) && next_ <= part_count_) {
      int number = next_++;
      if (parts_[static_cast<size_t>(number - 1)].number == 0) send_part(number);
    }
    if (in_flight_ == 0 && (failed_ || next_ > part_count_)) all_settled();
  }

  void send_part(int number) {
    ++in_flight_;
    auto self = shared_from_this();
    // Every part's CRC-64 is computed and checked, whatever the store reports.
    digest_then(workers_, store_.capabilities(), true,
                Body::from_file(file_.path, part_offset(number), part_length(number)),
                [self, number](Result<Body> body) {
                  if (!body.ok()) return self->on_part(number, std::move(body).error(), 0);
                  uint64_t local = *body->crc64;
                  self->store_.upload_part(self->file_.key, self->multipart_id_, number,
                                           std::move(*body),
                                           [self, number, local](Result<PartInfo> part) {
                                             self->on_part(number, std::move(part), local);
                                           });
                });
  }

  // `local_crc`: the file region's CRC-64, read when the part was sent.
  void on_part(int number, Result<PartInfo> part, uint64_t local_crc) {
    --in_flight_;
    Status checked =
        part.ok() ? check_part(number, *part, local_crc) : Status(std::move(part).error());
    if (!checked.ok()) {
      if (!failed_)
        failed_ = std::move(checked).error().with_context(
            "part " + std::to_string(number) + " of " + std::to_string(part_count_) + " of " +
            file_.key);
    } else {
      parts_[static_cast<size_t>(number - 1)] = *part;
      if (file_.journal) file_.journal->part_uploaded(*part);
      bytes_done_ += part->size;
      if (options_.progress) options_.progress(bytes_done_, file_.size);
    }
    launch_parts();
  }

  // The store's CRC of a part against the file's, so a damaged part is caught before the
  // object is assembled rather than after.
  Status check_part(int number, PartInfo& part, uint64_t local_crc) {
    part.number = number;
    part.size = part_length(number);
    if (part.crc64 && *part.crc64 != local_crc)
      return integrity_error("CRC-64 mismatch between the file and the store");
    part.crc64 = local_crc;
    return {};
  }

  void all_settled() {
    if (failed_) {
      // A resumable upload keeps the multipart upload: the next attempt resumes it.
      if (file_.journal) return finish(*failed_);
      auto self = shared_from_this();
      return store_.abort_multipart(file_.key, multipart_id_,
                                    [self](Result<void>) { self->finish(*self->failed_); });
    }
    auto self = shared_from_this();
    store_.complete_multipart(file_.key, multipart_id_, parts_, [self](Result<PutReply> reply) {
      if (!reply.ok())
        return self->finish(std::move(reply).error().with_context("completing upload of " +
                                                                  self->file_.key));
      self->finish(self->check_whole(std::move(*reply)));
    });
  }

  Result<PutReply> check_whole(PutReply reply) const {
    uint64_t crc = 0;
    for (const PartInfo& p : parts_) crc = crc64_combine(crc, *p.crc64, p.size);
    if (reply.crc64 && *reply.crc64 != crc)
      return integrity_error(file_.key +
                             ": CRC-64 of the assembled object differs from the file's");
    reply.crc64 = crc;
    reply.resumed_bytes = resumed_bytes_;
    return reply;
  }

  void finish(Result<PutReply> result) {
    if (done_) std::exchange(done_, nullptr)(std::move(result));
  }

  ObjectStore& store_;
  BlockingPool& workers_;
  FileUpload file_;
  UploadOptions options_;
  Done<PutReply> done_;
  uint64_t part_size_ = 0;
  int part_count_ = 0;
  std::string multipart_id_;
  std::vector<PartInfo> parts_;  // number 0: not yet uploaded
  int next_ = 1;
  int in_flight_ = 0;
  uint64_t bytes_done_ = 0;
  uint64_t resumed_bytes_ = 0;  // of parts an earlier attempt uploaded, kept after ListParts
  std::optional<Error> failed_;
};

Result<uint64_t> regular_file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno_error("stat " + path, errno);
  if (!S_ISREG(st.st_mode))
    return Error(ErrorKind::kInvalidArgument, path + " is not a regular file");
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace

void upload(ObjectStore& store, BlockingPool& workers, FileUpload file, UploadOptions options,
            Done<PutReply> done) {
  if (!file.resume && file.size < options.multipart_threshold)
    return put_whole(store, workers, std::move(file), std::move(options), std::move(done));
  std::make_shared<MultipartUpload>(store, workers, std::move(file), std::move(options),
                                    std::move(done))
      ->start();
}

void upload_file(ObjectStore& store, BlockingPool& workers, std::string path, std::string key,
                 UploadOptions options, Done<PutReply> done) {
  workers.run<Result<uint64_t>>(
      [path] { return regular_file_size(path); },
      [&store, &workers, path, key = std::move(key), options = std::move(options),
       done = std::move(done)](Result<uint64_t> size) mutable {
        if (!size.ok()) return done(std::move(size).error());
        upload(store, workers, FileUpload{.path = path, .size = *size, .key = std::move(key)},
               std::move(options), std::move(done));
      });
}

Result<PutReply> upload_file_and_wait(BlockingStore& store, std::string path, std::string key,
                                      UploadOptions options) {
  SHOAL_ASSIGN(std::unique_ptr<BlockingPool> workers,
               BlockingPool::create(store.reactor(), std::max(options.parallel_parts, 1)));
  std::optional<Result<PutReply>> result;
  upload_file(store.async(), *workers, std::move(path), key, std::move(options),
              [&](Result<PutReply> r) { result.emplace(std::move(r)); });
  store.reactor().run_until([&] { return result.has_value(); });
  if (!result) return Error(ErrorKind::kInternal, "upload of " + key + " never completed");
  return std::move(*result);
}

}  // namespace shoal
