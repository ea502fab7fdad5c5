// Append mode: follows a growing local file (a training log) and carries its new bytes to the
// store. The journal's AppendAdvanced record holds how far the store is known to have them.
//
// On stores with append (OSS AppendObject, file://) the bytes go to one object, appended at
// the journaled position. A crash between the store's answer and the journal commit leaves the
// object ahead of the journal; on start (and on a position conflict) the object's length is
// read back and adopted when its bytes match the file's, never blindly.
//
// On stores without append (S3) the bytes go to numbered segments key.00001, key.00002, …: a
// segment is PUT whole once it holds roll_size bytes or has been open for roll_interval (or a
// flush asks for it). The journal names the next segment and the file offset it starts at, so
// a segment redone after a crash is rewritten from the same offset: no gap, no overlap.
//
// A file that shrinks (truncated or rotated away) stops its stream with an error in status.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/reactor.h"
#include "store/object_store.h"
#include "writer/config.h"
#include "writer/upload_task.h"

namespace shoal {

class AppendStream {
 public:
  // `base_key` is the full object key (destination prefix + configured key).
  AppendStream(Reactor& reactor, ObjectStore& store, JournalLink& journal,
               AppendStreamConfig config, std::string base_key);
  ~AppendStream();
  AppendStream(const AppendStream&) = delete;
  AppendStream& operator=(const AppendStream&) = delete;

  // Stable across restarts and config reordering: derived from the file and the key.
  uint64_t id() const { return id_; }
  void start();

  // Bytes of the file the store durably holds (as far as this process knows).
  uint64_t durable_offset() const { return position_; }
  // Asks that every byte the file has now reach the store (rolls a segment early); returns the
  // offset to wait for with durable_offset().
  uint64_t request_flush();
  bool stopped() const { return stopped_; }
  const std::string& file() const { return config_.file; }
  const std::string& current_key() const { return key_; }
  const std::string& last_error() const { return last_error_; }

  // Called after each durable advance, so flush waiters can be checked.
  std::function<void()> on_advance;

 private:
  bool segmented() const { return !store_.capabilities().append; }
  std::string segment_key(uint64_t number) const;
  void reconcile();
  void on_head(Result<ObjectInfo> info);
  void schedule_poll(std::chrono::milliseconds delay);
  void poll();
  void send_append(uint64_t length);
  void send_segment(uint64_t length);
  void advanced(std::string next_key, uint64_t position);
  void fail(const Error& error, bool permanent);

  Reactor& reactor_;
  ObjectStore& store_;
  JournalLink& journal_;
  AppendStreamConfig config_;
  std::string base_key_;
  uint64_t id_;
  std::string key_;
  uint64_t position_ = 0;
  uint64_t flush_target_ = 0;
  std::optional<Reactor::Clock::time_point> segment_opened_;
  std::optional<Reactor::TimerId> timer_;
  bool busy_ = false;
  bool stopped_ = false;
  std::string last_error_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shoal
