// The append-log writer: takes files (watched directories, `put` over the control socket),
// captures them into the spool, journals them, uploads them, and cleans up.
//
// When a file counts as durable: a take is acknowledged (put returns, the journal holds it)
// only after the spooled copy and its FileTaken record are fsynced; from then on a crash or
// kill -9 loses nothing, since a restart replays the journal and finishes the upload. A file
// is durable remotely once the store acknowledged the complete object and its checksum matched;
// `flush --wait` returns when every file taken before it has reached that state.
//
// Single-threaded: everything runs on the writer's own PollReactor, except blocking file work
// — captures (link or copy, fsyncs) and reading bodies for their checksums — which runs on a
// few worker threads and reports back to the loop. request_stop() is the one call that is safe from another thread or a signal handler.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/blocking_pool.h"
#include "common/control.h"
#include "common/poll_reactor.h"
#include "store/config.h"
#include "store/object_store.h"
#include "writer/append_stream.h"
#include "writer/config.h"
#include "writer/journal.h"
#include "writer/retention.h"
#include "writer/spool.h"
#include "writer/upload_task.h"
#include "writer/watcher.h"

namespace shoal {

struct WriterStats {
  uint64_t taken_files = 0;    // by this process, durably journaled
  uint64_t pending_files = 0;
  uint64_t pending_bytes = 0;
  uint64_t uploaded_files = 0;  // by this process
  uint64_t uploaded_bytes = 0;
  uint64_t resumed_bytes = 0;   // of multipart uploads resumed: parts not sent again
  uint64_t skipped_files = 0;   // already in the store, byte-identical
  uint64_t failed_attempts = 0;
  uint64_t refused_files = 0;   // could not be taken (vanished, unreadable, spool full)
  uint64_t spool_used = 0;
  uint64_t spool_budget = 0;
  bool spool_full = false;
  double last_upload_ms = 0;    // latency from take to durable, of the last upload
  double max_upload_ms = 0;
  std::string last_error;
};

class Writer {
 public:
  // Opens the journal, spool and store (settings resolved from the config's [store] tables and
  // `env`), replays the journal and starts listening on the control socket.
  static Result<std::unique_ptr<Writer>> open(const WriterConfig& config, const EnvLookup& env);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Starts the watches, append streams and replayed uploads, and runs until request_stop().
  Status run();
  void request_stop();  // thread- and async-signal-safe

  WriterStats stats() const;

 private:
  struct Upload {
    std::string key;
    uint64_t size = 0;
    bool verify_first = false;  // replayed or failed before: ask the store before redoing
    bool queued = false;
    bool active = false;
    bool skipped = false;  // the store already had it
    int attempts = 0;
    Reactor::Clock::time_point taken_at;
    std::optional<Reactor::TimerId> retry_timer;
    std::string last_error;
  };
  struct FlushWaiter {
    uint64_t below_id;  // uploads taken before the flush
    std::vector<std::pair<AppendStream*, uint64_t>> streams;
    ControlRespond respond;
    std::optional<Reactor::TimerId> timer;
  };
  using Acked = std::function<void(Result<uint64_t>)>;

  Writer(WriterConfig config, Journal journal, Spool spool);
  Status open_store(const EnvLookup& env);
  Status replay();
  Status start_services();

  // Taking (writer_take.cc).
  // `landed`: the watcher's link to the file, captured instead of `source` when given.
  void take(const std::string& source, const std::string& key, bool explicit_put, Acked acked,
            const std::string& landed = "");
  void record_taken(uint64_t id, const std::string& source, const std::string& key,
                    const CapturedFile& captured, Acked acked);
  void refuse(const std::string& source, const Error& error, bool loud);
  void set_spool_full(const std::string& source, uint64_t size);
  void on_spool_freed();
  void on_found(const Watcher::Found& found);
  bool ignored(const std::string& root, const std::string& path) const;
  std::string key_for(const std::string& root, const std::string& path) const;
  std::string key_for_put(const std::string& path) const;
  void request_rescan();
  void rescan_next();

  // Uploading (writer_upload.cc).
  void track(uint64_t id, const FileTaken& taken, bool verify_first);
  void enqueue(uint64_t id);
  void pump();
  bool first_for_key(uint64_t id) const;
  void start_upload(uint64_t id);
  void on_attempt_done(uint64_t id, Result<PutReply> result);
  void skip_uploaded(uint64_t id, const std::string& etag);
  void on_uploaded(uint64_t id, const std::string& etag, bool skipped);
  void finish_upload(uint64_t id);
  void schedule_retry(uint64_t id);
  void check_flush_waiters();
  void maybe_compact();

  // Control (writer.cc).
  std::vector<ControlCommand> control_commands();
  void handle_put(const std::vector<std::string>& words, ControlRespond respond);
  void handle_flush(const std::vector<std::string>& words, ControlRespond respond);
  ControlReply status_reply() const;
  bool flush_satisfied(const FlushWaiter& w) const;

  WriterConfig config_;
  // Declared before everything that registers fds or timers on it, so it is destroyed last.
  std::unique_ptr<PollReactor> reactor_ = std::make_unique<PollReactor>();
  Journal journal_;
  JournalCommitter committer_;
  JournalLink link_;
  Spool spool_;
  // Captures and checksums (blocking file work). After the spool they capture into, so they
  // are joined before it goes.
  std::unique_ptr<BlockingPool> workers_;
  std::unique_ptr<ObjectStore> store_;
  UploadOptions upload_options_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<Watcher> watcher_;
  std::vector<std::unique_ptr<AppendStream>> streams_;
  std::unique_ptr<Retention> retention_;
  int stop_fd_ = -1;
  bool stopping_ = false;

  std::map<uint64_t, Upload> uploads_;  // taken, not yet complete
  std::map<std::string, std::set<uint64_t>> ids_by_key_;
  std::deque<uint64_t> ready_;
  int active_ = 0;
  std::map<std::string, FileIdentity> known_;  // source path → the version already taken
  std::multiset<std::string> capturing_;       // source paths whose capture is running
  std::vector<FlushWaiter> flush_waiters_;

  std::deque<std::pair<std::string, std::string>> rescan_queue_;  // (root, path)
  bool rescanning_ = false;
  bool rescan_again_ = false;

  WriterStats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shoal
