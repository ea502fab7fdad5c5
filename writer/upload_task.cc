#include "writer/upload_task.h"

#include <algorithm>
#include <memory>
#include <set>
#include <vector>

#include "store/crc64.h"
#include "store/rest/body_digest.h"
#include "store/transfer.h"

namespace shoal {
namespace {

Error integrity_error(const std::string& what) { return Error(ErrorKind::kIntegrity, what); }

// Reads a region of a spooled file on a worker for the checksums the store sends (and the
// CRC-64 when `crc64`), then hands the body, with them, to `send` on the loop.
void digest_then(BlockingPool& workers, const Capabilities& caps, bool crc64, Body body,
                 std::function<void(Result<Body>)> send) {
  workers.run<Result<Body>>(
      [body = std::move(body), md5 = caps.content_md5, crc64]() mutable -> Result<Body> {
        SHOAL_TRY(add_upload_digests(body, md5, crc64));
        return std::move(body);
      },
      std::move(send));
}

void put_whole(ObjectStore& store, BlockingPool& workers, const FileTaken& taken,
               Done<PutReply> done) {
  // The stored object's CRC-64 is checked where the store reports one.
  Capabilities caps = store.capabilities();
  digest_then(workers, caps, caps.crc64, Body::from_file(taken.spool_path, 0, taken.size),
              [&store, taken, done = std::move(done)](Result<Body> body) mutable {
                if (!body.ok()) return done(std::move(body).error());
                std::optional<uint64_t> local = body->crc64;
                store.put(taken.key, std::move(*body),
                          [taken, local, done = std::move(done)](Result<PutReply> reply) {
                            if (!reply.ok() || !reply->crc64 || !local) return done(std::move(reply));
                            if (*reply->crc64 != *local)
                              return done(integrity_error(taken.key + ": CRC-64 of the stored "
                                                          "object differs from the spooled file's"));
                            done(std::move(reply));
                          });
              });
}

// A multipart upload driven from the journal's record of it.
class ResumableMultipart : public std::enable_shared_from_this<ResumableMultipart> {
 public:
  ResumableMultipart(ObjectStore& store, BlockingPool& workers, JournalLink& journal,
                     const UploadSettings& settings, const UploadState& state, Done<PutReply> done)
      : store_(store), workers_(workers), journal_(journal), settings_(settings), taken_(state.taken),
        previous_(state.multipart), journaled_parts_(state.parts), done_(std::move(done)) {}

  void start() {
    if (!previous_) return create();
    auto self = shared_from_this();
    store_.list_parts(taken_.key, previous_->multipart_id,
                      [self](Result<std::vector<PartInfo>> listed) { self->on_listed(std::move(listed)); });
  }

 private:
  // Keeps the journaled parts the store still has, unchanged; anything else is redone.
  void on_listed(Result<std::vector<PartInfo>> listed) {
    if (!listed.ok()) return abort_previous();
    part_size_ = previous_->part_size;
    multipart_id_ = previous_->multipart_id;
    plan_parts();
    for (const PartInfo& p : *listed) {
      auto it = journaled_parts_.find(static_cast<uint32_t>(p.number));
      if (it == journaled_parts_.end() || it->second.etag != p.etag || p.number > part_count_ ||
          it->second.size != part_length(p.number))
        continue;
      parts_[static_cast<size_t>(p.number - 1)] =
          PartInfo{p.number, p.etag, it->second.size, it->second.crc64};
    }
    launch_parts();
  }

  void abort_previous() {
    auto self = shared_from_this();
    store_.abort_multipart(taken_.key, previous_->multipart_id, [self](Result<void>) {
      self->create();  // best effort: an upload the store forgot needs no abort
    });
  }

  void create() {
    part_size_ = upload_part_size(settings_, taken_.size, store_.capabilities());
    plan_parts();
    auto self = shared_from_this();
    store_.create_multipart(taken_.key, [self](Result<std::string> id) {
      if (!id.ok())
        return self->finish(std::move(id).error().with_context("starting multipart upload of " +
                                                               self->taken_.key));
      self->multipart_id_ = *id;
      MultipartStarted started{self->taken_.upload_id, *id, self->part_size_};
      self->journal_.record(started, [self](Status durable) {
        if (!durable.ok()) return self->finish(std::move(durable).error());
        self->launch_parts();
      });
    });
  }

  void plan_parts() {
    part_count_ = static_cast<int>(std::max<uint64_t>(1, (taken_.size + part_size_ - 1) / part_size_));
    parts_.assign(static_cast<size_t>(part_count_), PartInfo{});
  }
  uint64_t part_offset(int number) const { return static_cast<uint64_t>(number - 1) * part_size_; }
  uint64_t part_length(int number) const {
    return std::min(part_size_, taken_.size - std::min(taken_.size, part_offset(number)));
  }

  void launch_parts() {
    while (!failed_ && in_flight_ < std::max(settings_.parallel_parts, 1) && next_ <= part_count_) {
      int number = next_++;
      if (parts_[static_cast<size_t>(number - 1)].number == 0) send_part(number);
    }
    if (in_flight_ == 0 && (failed_ || next_ > part_count_)) all_settled();
  }

  void send_part(int number) {
    ++in_flight_;
    auto self = shared_from_this();
    // Every part's CRC-64 is journaled and checked, whatever the store reports.
    digest_then(workers_, store_.capabilities(), true,
                Body::from_file(taken_.spool_path, part_offset(number), part_length(number)),
                [self, number](Result<Body> body) {
                  if (!body.ok()) return self->on_part(number, std::move(body).error(), 0);
                  uint64_t local = *body->crc64;
                  self->store_.upload_part(self->taken_.key, self->multipart_id_, number,
                                           std::move(*body),
                                           [self, number, local](Result<PartInfo> part) {
                                             self->on_part(number, std::move(part), local);
                                           });
                });
  }

  // `local_crc`: the spooled region's CRC-64, read when the part was sent.
  void on_part(int number, Result<PartInfo> part, uint64_t local_crc) {
    --in_flight_;
    Status checked =
        part.ok() ? check_part(number, *part, local_crc) : Status(std::move(part).error());
    if (!checked.ok()) {
      if (!failed_)
        failed_ = std::move(checked).error().with_context(
            "part " + std::to_string(number) + " of " + std::to_string(part_count_) + " of " +
            taken_.key);
    } else {
      parts_[static_cast<size_t>(number - 1)] = *part;
      journal_.record(PartUploaded{taken_.upload_id, static_cast<uint32_t>(number), part->etag,
                                   *part->crc64, part->size},
                      nullptr);
    }
    launch_parts();
  }

  // The store's CRC of a part against the spooled file's, so a damaged part is caught before
  // the object is assembled.
  Status check_part(int number, PartInfo& part, uint64_t local_crc) {
    part.number = number;
    part.size = part_length(number);
    if (part.crc64 && *part.crc64 != local_crc)
      return integrity_error("CRC-64 mismatch between the spooled file and the store");
    part.crc64 = local_crc;
    return {};
  }

  void all_settled() {
    // A failed attempt keeps the multipart upload: the next attempt resumes it.
    if (failed_) return finish(*failed_);
    auto self = shared_from_this();
    store_.complete_multipart(taken_.key, multipart_id_, parts_, [self](Result<PutReply> reply) {
      if (!reply.ok())
        return self->finish(std::move(reply).error().with_context("completing upload of " +
                                                                  self->taken_.key));
      self->finish(self->check_whole(std::move(*reply)));
    });
  }

  Result<PutReply> check_whole(PutReply reply) const {
    uint64_t crc = 0;
    for (const PartInfo& p : parts_) crc = crc64_combine(crc, *p.crc64, p.size);
    if (reply.crc64 && *reply.crc64 != crc)
      return integrity_error(taken_.key + ": CRC-64 of the assembled object differs from the file's");
    reply.crc64 = crc;
    return reply;
  }

  void finish(Result<PutReply> result) {
    if (done_) std::exchange(done_, nullptr)(std::move(result));
  }

  ObjectStore& store_;
  BlockingPool& workers_;
  JournalLink& journal_;
  UploadSettings settings_;
  FileTaken taken_;
  std::optional<MultipartStarted> previous_;
  std::map<uint32_t, PartUploaded> journaled_parts_;
  Done<PutReply> done_;
  uint64_t part_size_ = 0;
  int part_count_ = 0;
  std::string multipart_id_;
  std::vector<PartInfo> parts_;  // number 0: not yet uploaded
  int next_ = 1;
  int in_flight_ = 0;
  std::optional<Error> failed_;
};

}  // namespace

void JournalLink::record(const JournalRecord& record, std::function<void(Status)> on_durable) {
  Status appended = journal_.append(record);
  if (!appended.ok()) {
    if (on_durable) on_durable(std::move(appended).error());
    return;
  }
  committer_.request([on_durable = std::move(on_durable)](Status s) {
    if (on_durable) on_durable(std::move(s));
  });
}

uint64_t upload_part_size(const UploadSettings& settings, uint64_t size, const Capabilities& caps) {
  uint64_t part = settings.part_size ? settings.part_size : choose_part_size(size, caps);
  return std::clamp(part, caps.min_part_size, caps.max_part_size);
}

void run_upload(ObjectStore& store, BlockingPool& workers, JournalLink& journal,
                const UploadSettings& settings, const UploadState& state, Done<PutReply> done) {
  if (state.taken.size < settings.multipart_threshold && !state.multipart)
    return put_whole(store, workers, state.taken, std::move(done));
  std::make_shared<ResumableMultipart>(store, workers, journal, settings, state, std::move(done))
      ->start();
}

}  // namespace shoal
