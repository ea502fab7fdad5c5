// Uploading taken files: the queue, one upload per key at a time in take order, writer-level
// retries with capped backoff (the store client has already retried transient errors), and the
// cleanup once an object is durable.
#include <random>

#include "common/log.h"
#include "writer/remote_check.h"
#include "writer/writer.h"

namespace shoal {

void Writer::track(uint64_t id, const FileTaken& taken, bool verify_first) {
  Upload& u = uploads_[id];
  u.key = taken.key;
  u.size = taken.size;
  u.verify_first = verify_first;
  u.taken_at = Reactor::Clock::now();
  ids_by_key_[taken.key].insert(id);
  if (verify_first) known_[taken.source_path] = FileIdentity{taken.size, taken.mtime_ns};
}

void Writer::enqueue(uint64_t id) {
  auto it = uploads_.find(id);
  if (it == uploads_.end() || it->second.queued || it->second.active) return;
  it->second.queued = true;
  ready_.push_back(id);
}

// Two takes of one key upload in take order, so the newer bytes are the ones that stay.
bool Writer::first_for_key(uint64_t id) const {
  const auto& ids = ids_by_key_.at(uploads_.at(id).key);
  return *ids.begin() == id;
}

void Writer::pump() {
  for (auto it = ready_.begin(); it != ready_.end() && active_ < config_.parallel_uploads;) {
    if (!first_for_key(*it)) {
      ++it;
      continue;
    }
    uint64_t id = *it;
    it = ready_.erase(it);
    start_upload(id);
  }
}

void Writer::start_upload(uint64_t id) {
  Upload& u = uploads_.at(id);
  u.queued = false;
  u.active = true;
  ++active_;
  const UploadState& state = journal_.state().uploads.at(id);
  auto alive = std::weak_ptr<bool>(alive_);
  if (!u.verify_first) {
    return run_upload(*store_, *workers_, link_, upload_options_, state,
                      [this, id, alive](Result<PutReply> r) {
                        if (alive.lock()) on_attempt_done(id, std::move(r));
                      });
  }
  uint64_t part_size = state.multipart
                           ? state.multipart->part_size
                           : upload_part_size(upload_options_, state.taken.size,
                                              store_->capabilities());
  remote_matches(*store_, state.taken.key, state.taken.spool_path, state.taken.size, part_size,
                 [this, id, alive](Result<RemoteMatch> match) {
                   if (!alive.lock()) return;
                   if (!match.ok()) return on_attempt_done(id, std::move(match).error());
                   if (*match) return skip_uploaded(id, **match);
                   uploads_.at(id).verify_first = false;
                   const UploadState& st = journal_.state().uploads.at(id);
                   run_upload(*store_, *workers_, link_, upload_options_, st,
                              [this, id, alive](Result<PutReply> r) {
                                if (alive.lock()) on_attempt_done(id, std::move(r));
                              });
                 });
}

void Writer::on_attempt_done(uint64_t id, Result<PutReply> result) {
  if (result.ok()) {
    stats_.resumed_bytes += result->resumed_bytes;
    return on_uploaded(id, result->etag, false);
  }
  Upload& u = uploads_.at(id);
  u.active = false;
  --active_;
  ++u.attempts;
  ++stats_.failed_attempts;
  u.last_error = result.error().describe();
  stats_.last_error = "upload of " + u.key + " failed: " + u.last_error;
  // The store may have the object even though we saw an error (a lost answer).
  u.verify_first = true;
  write_log(LogLevel::kError, stats_.last_error + " (attempt " + std::to_string(u.attempts) +
                                   "; the file stays spooled and is retried)");
  schedule_retry(id);
  pump();
}

void Writer::schedule_retry(uint64_t id) {
  Upload& u = uploads_.at(id);
  int exponent = std::min(u.attempts - 1, 20);
  auto ceiling = std::min<int64_t>(config_.retry_cap.count(),
                                   config_.retry_base.count() << exponent);
  // Half fixed, half jitter: spread out, but never retry at once in a tight loop.
  static std::mt19937_64 rng{std::random_device{}()};
  auto delay = ceiling / 2 + static_cast<int64_t>(rng() % static_cast<uint64_t>(ceiling / 2 + 1));
  u.retry_timer = reactor_->add_timer(std::chrono::milliseconds(delay), [this, id] {
    auto it = uploads_.find(id);
    if (it == uploads_.end()) return;
    it->second.retry_timer.reset();
    enqueue(id);
    pump();
  });
}

// The store already holds the file whole. A multipart upload journaled for it is aborted first
// (best effort: a store that completed it has forgotten it), since a crash after the store
// assembled the object but before it dropped the parts (file:// renames, then cleans up) would
// otherwise leave them behind for good. Aborting before journaling keeps that crash-safe too.
void Writer::skip_uploaded(uint64_t id, const std::string& etag) {
  const UploadState& state = journal_.state().uploads.at(id);
  if (!state.multipart) return on_uploaded(id, etag, true);
  store_->abort_multipart(state.taken.key, state.multipart->multipart_id,
                          [this, id, etag, alive = std::weak_ptr<bool>(alive_)](Result<void>) {
                            if (alive.lock()) on_uploaded(id, etag, true);
                          });
}

void Writer::on_uploaded(uint64_t id, const std::string& etag, bool skipped) {
  Upload& u = uploads_.at(id);
  u.skipped = skipped;
  if (skipped) {
    ++stats_.skipped_files;
    write_log(LogLevel::kInfo, u.key + " is already in the store, byte-identical; not redone");
  }
  link_.record(UploadCompleted{id, etag},
               [this, id, alive = std::weak_ptr<bool>(alive_)](Status durable) {
                 if (!alive.lock()) return;
                 if (durable.ok()) return finish_upload(id);
                 // The record stays buffered: retry the commit before the spool copy may go.
                 stats_.last_error = durable.error().describe();
                 write_log(LogLevel::kError, stats_.last_error);
                 reactor_->add_timer(config_.retry_base, [this, id, alive] {
                   if (alive.lock()) committer_.request([this, id, alive](Status s) {
                     if (alive.lock() && s.ok()) finish_upload(id);
                   });
                 });
               });
}

void Writer::finish_upload(uint64_t id) {
  auto it = uploads_.find(id);
  if (it == uploads_.end() || !it->second.active) return;
  Upload u = it->second;
  FileTaken taken = journal_.state().uploads.at(id).taken;
  Status released = spool_.release(taken.spool_path, taken.size);
  if (released.ok()) {
    link_.record(DeletedLocally{id}, nullptr);
  } else {
    write_log(LogLevel::kWarning, released.error().describe());  // removed on the next start
  }
  uploads_.erase(it);
  auto& ids = ids_by_key_[u.key];
  ids.erase(id);
  if (ids.empty()) ids_by_key_.erase(u.key);
  --active_;
  if (!u.skipped) {
    ++stats_.uploaded_files;
    stats_.uploaded_bytes += u.size;
  }
  std::chrono::duration<double, std::milli> latency = Reactor::Clock::now() - u.taken_at;
  stats_.last_upload_ms = latency.count();
  stats_.max_upload_ms = std::max(stats_.max_upload_ms, latency.count());
  on_spool_freed();
  check_flush_waiters();
  if (retention_) retention_->request();
  maybe_compact();
  pump();
}

void Writer::maybe_compact() {
  auto compacted = journal_.compact_if_due();
  if (!compacted.ok()) write_log(LogLevel::kWarning, compacted.error().describe());
}

}  // namespace shoal
