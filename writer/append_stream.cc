#include "writer/append_stream.h"

#include <sys/stat.h>
#include <xxhash.h>

#include <cstdio>

#include "common/log.h"
#include "writer/remote_check.h"

namespace shoal {
namespace {

constexpr uint64_t kMaxAppend = 8ull << 20;  // one AppendObject request at most
constexpr int kSegmentDigits = 5;

Result<uint64_t> current_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno_error("stat " + path, errno);
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace

AppendStream::AppendStream(Reactor& reactor, ObjectStore& store, JournalLink& journal,
                           AppendStreamConfig config, std::string base_key)
    : reactor_(reactor), store_(store), journal_(journal), config_(std::move(config)),
      base_key_(std::move(base_key)) {
  std::string identity = config_.file + '\0' + base_key_;
  id_ = XXH3_64bits(identity.data(), identity.size());
}

AppendStream::~AppendStream() {
  if (timer_) reactor_.cancel_timer(*timer_);
}

std::string AppendStream::segment_key(uint64_t number) const {
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), ".%0*llu", kSegmentDigits,
                static_cast<unsigned long long>(number));
  return base_key_ + suffix;
}

void AppendStream::start() {
  const auto& streams = journal_.journal().state().streams;
  auto it = streams.find(id_);
  if (it != streams.end()) {
    key_ = it->second.key;
    position_ = it->second.position;
  } else {
    key_ = segmented() ? segment_key(1) : base_key_;
  }
  if (segmented()) return schedule_poll(std::chrono::milliseconds(0));
  reconcile();
}

// The object may be ahead of the journal (crash before the commit): adopt its length only when
// its bytes are the file's.
void AppendStream::reconcile() {
  busy_ = true;
  store_.head(key_, [this, alive = std::weak_ptr<bool>(alive_)](Result<ObjectInfo> info) {
    if (alive.lock()) on_head(std::move(info));
  });
}

void AppendStream::on_head(Result<ObjectInfo> info) {
  if (!info.ok() && info.error().kind == ErrorKind::kNotFound) info = ObjectInfo{};
  if (!info.ok()) {
    busy_ = false;
    fail(info.error(), false);
    return schedule_poll(config_.poll_interval);
  }
  uint64_t remote = info->size;
  if (remote == position_) {
    busy_ = false;
    return schedule_poll(std::chrono::milliseconds(0));
  }
  if (remote < position_) {
    busy_ = false;
    return fail(Error(ErrorKind::kIntegrity, key_ + " holds " + std::to_string(remote) +
                                                 " bytes but " + std::to_string(position_) +
                                                 " were appended: it was changed by someone else"),
                true);
  }
  remote_matches(store_, key_, config_.file, remote, 0,
                 [this, remote, alive = std::weak_ptr<bool>(alive_)](Result<RemoteMatch> m) {
                   if (!alive.lock()) return;
                   busy_ = false;
                   if (!m.ok()) {
                     fail(m.error(), false);
                     return schedule_poll(config_.poll_interval);
                   }
                   if (!*m)
                     return fail(Error(ErrorKind::kIntegrity,
                                       key_ + " does not hold the bytes of " + config_.file),
                                 true);
                   advanced(key_, remote);
                   schedule_poll(std::chrono::milliseconds(0));
                 });
}

uint64_t AppendStream::request_flush() {
  auto size = current_size(config_.file);
  flush_target_ = size.ok() ? std::max(*size, position_) : position_;
  if (!busy_ && !stopped_) schedule_poll(std::chrono::milliseconds(0));
  return flush_target_;
}

void AppendStream::schedule_poll(std::chrono::milliseconds delay) {
  if (stopped_) return;
  if (timer_) reactor_.cancel_timer(*timer_);
  timer_ = reactor_.add_timer(delay, [this] {
    timer_.reset();
    poll();
  });
}

void AppendStream::poll() {
  if (busy_ || stopped_) return;
  auto size = current_size(config_.file);
  if (!size.ok()) {
    // Not created yet, or between rotations: keep looking.
    if (size.error().kind != ErrorKind::kNotFound) fail(size.error(), false);
    return schedule_poll(config_.poll_interval);
  }
  if (*size < position_)
    return fail(Error(ErrorKind::kInvalidArgument,
                      config_.file + " shrank below the " + std::to_string(position_) +
                          " bytes already uploaded (truncated or rotated); restart the stream "
                          "with a new key"),
                true);
  uint64_t pending = *size - position_;
  if (pending == 0) {
    segment_opened_.reset();
    return schedule_poll(config_.poll_interval);
  }
  if (!segmented()) return send_append(std::min(pending, kMaxAppend));
  if (!segment_opened_) segment_opened_ = Reactor::Clock::now();
  bool full = pending >= config_.roll_size;
  bool old = Reactor::Clock::now() - *segment_opened_ >= config_.roll_interval;
  if (full || old || flush_target_ > position_)
    return send_segment(std::min(pending, config_.roll_size));
  schedule_poll(config_.poll_interval);
}

void AppendStream::send_append(uint64_t length) {
  busy_ = true;
  store_.append(key_, position_, Body::from_file(config_.file, position_, length),
                [this, length, alive = std::weak_ptr<bool>(alive_)](Result<PutReply> r) {
                  if (!alive.lock()) return;
                  busy_ = false;
                  if (!r.ok()) {
                    fail(r.error(), false);
                    // A position conflict means the object is ahead of us: find out by how much.
                    if (r.error().http_status == 409 || r.error().kind == ErrorKind::kPreconditionFailed ||
                        r.error().kind == ErrorKind::kInvalidArgument)
                      return reconcile();
                    return schedule_poll(config_.poll_interval);
                  }
                  advanced(key_, position_ + length);
                  schedule_poll(std::chrono::milliseconds(0));
                });
}

void AppendStream::send_segment(uint64_t length) {
  busy_ = true;
  std::string key = key_;
  store_.put(key, Body::from_file(config_.file, position_, length),
             [this, length, alive = std::weak_ptr<bool>(alive_)](Result<PutReply> r) {
               if (!alive.lock()) return;
               busy_ = false;
               if (!r.ok()) {
                 fail(r.error(), false);
                 return schedule_poll(config_.poll_interval);
               }
               uint64_t number = std::stoull(key_.substr(key_.rfind('.') + 1));
               segment_opened_.reset();
               advanced(segment_key(number + 1), position_ + length);
               schedule_poll(std::chrono::milliseconds(0));
             });
}

void AppendStream::advanced(std::string next_key, uint64_t position) {
  key_ = std::move(next_key);
  position_ = position;
  last_error_.clear();
  journal_.record(AppendAdvanced{id_, key_, position_},
                  [this, alive = std::weak_ptr<bool>(alive_)](Status durable) {
                    if (!alive.lock()) return;
                    if (!durable.ok()) return fail(durable.error(), false);
                    if (on_advance) on_advance();
                  });
}

void AppendStream::fail(const Error& error, bool permanent) {
  last_error_ = error.describe();
  write_log(permanent ? LogLevel::kError : LogLevel::kWarning,
             "append stream " + config_.file + " → " + key_ + ": " + last_error_ +
                 (permanent ? " (stream stopped)" : " (will retry)"));
  if (permanent) stopped_ = true;
}

}  // namespace shoal
