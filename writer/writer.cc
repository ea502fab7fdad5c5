#include "writer/writer.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "common/log.h"
#include "store/open_store.h"

namespace shoal {
namespace {

std::string plural(uint64_t n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

std::string ms_text(double ms) { return std::to_string(static_cast<uint64_t>(ms)); }

// Blocking file work at once: captures mostly wait on fsync, which the file system batches
// when several come together; checksumming upload bodies is CPU.
constexpr int kWorkers = 4;

}  // namespace

Result<std::unique_ptr<Writer>> Writer::open(const WriterConfig& config, const EnvLookup& env) {
  SHOAL_ASSIGN(Journal journal, Journal::open(config.journal));
  const JournalReplay& replayed = journal.replay();
  if (replayed.bytes_cut > 0)
    write_log(LogLevel::kWarning, "journal " + config.journal + ": cut a torn tail of " +
                                       std::to_string(replayed.bytes_cut) + " bytes at offset " +
                                       std::to_string(replayed.cut_offset) +
                                       " (a commit interrupted by a crash; it was never acknowledged)");
  SHOAL_ASSIGN(Spool spool, Spool::open(config.spool, config.spool_budget));
  std::unique_ptr<Writer> w(new Writer(config, std::move(journal), std::move(spool)));
  SHOAL_ASSIGN(w->workers_, BlockingPool::create(*w->reactor_, kWorkers));
  SHOAL_TRY(w->open_store(env));
  SHOAL_TRY(w->replay());
  SHOAL_ASSIGN(w->control_,
               ControlServer::listen(*w->reactor_, config.control_socket, w->control_commands()));
  return w;
}

Writer::Writer(WriterConfig config, Journal journal, Spool spool)
    : config_(std::move(config)), journal_(std::move(journal)), committer_(*reactor_, journal_),
      link_(journal_, committer_), spool_(std::move(spool)) {
  upload_options_.multipart_threshold = config_.multipart_threshold;
  upload_options_.part_size = config_.part_size;
  upload_options_.parallel_parts = config_.parallel_parts;
  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

Writer::~Writer() {
  for (auto& w : flush_waiters_) w.respond(ControlReply::failure("the writer is shutting down"));
  flush_waiters_.clear();
  if (stop_fd_ >= 0) {
    reactor_->unwatch(stop_fd_);
    ::close(stop_fd_);
  }
}

Status Writer::open_store(const EnvLookup& env) {
  SHOAL_ASSIGN(StoreConfig store_config,
               resolve_store_config(config_.destination.scheme, StoreFlags{}, config_.store, env));
  SHOAL_ASSIGN(store_, ::shoal::open_store(config_.destination, store_config, *reactor_));
  return {};
}

// Finishes the cleanup of completed uploads, drops spool entries no record names, and queues
// every upload still owed, to be checked against the store before it is redone.
Status Writer::replay() {
  std::set<std::string> live;
  std::vector<uint64_t> completed;
  for (const auto& [id, u] : journal_.state().uploads) {
    if (u.deleted_locally) continue;
    live.insert(u.taken.spool_path);
    if (u.completed_etag) {
      completed.push_back(id);
      continue;
    }
    spool_.account(u.taken.size);
    track(id, u.taken, true);
  }
  SHOAL_TRY(spool_.remove_orphans(live));
  for (uint64_t id : completed) {
    const FileTaken& t = journal_.state().uploads.at(id).taken;
    SHOAL_TRY(spool_.release(t.spool_path, 0));
    SHOAL_TRY(journal_.append(DeletedLocally{id}));
  }
  SHOAL_TRY(journal_.commit());
  if (!uploads_.empty())
    write_log(LogLevel::kInfo, "journal replayed: " + plural(uploads_.size(), "upload") +
                                    " still owed to the store");
  return {};
}

Status Writer::start_services() {
  reactor_->watch(stop_fd_, Reactor::kReadable, [this](uint32_t) {
    uint64_t n = 0;
    if (::read(stop_fd_, &n, sizeof(n)) == sizeof(n)) stopping_ = true;
  });
  if (!config_.watch.empty()) {
    SHOAL_ASSIGN(watcher_, Watcher::start(
                               *reactor_, config_.watch, spool_.dir() + "/landing",
                               [this](const std::string& root, const std::string& path) {
                                 return ignored(root, path);
                               },
                               [this](const Watcher::Found& f) { on_found(f); },
                               [this] { request_rescan(); }));
    request_rescan();  // files written while no writer was watching
  }
  for (const auto& a : config_.append) {
    auto stream = std::make_unique<AppendStream>(*reactor_, *store_, link_, a,
                                                 config_.destination.prefix + a.key);
    stream->on_advance = [this] { check_flush_waiters(); };
    stream->start();
    streams_.push_back(std::move(stream));
  }
  if (config_.retention) {
    retention_ = std::make_unique<Retention>(
        *store_, config_.destination.prefix, *config_.retention, [this] {
          std::set<std::string> incomplete;
          for (const auto& [id, u] : uploads_) {
            std::string g = generation_of(retention_->pattern(),
                                          u.key.substr(config_.destination.prefix.size()));
            if (!g.empty()) incomplete.insert(g);
          }
          return incomplete;
        });
  }
  for (const auto& [id, u] : uploads_) enqueue(id);
  pump();
  return {};
}

Status Writer::run() {
  SHOAL_TRY(start_services());
  write_log(LogLevel::kInfo, "writing to " + store_->describe() + " under " +
                                  config_.destination.to_string() + "; control socket " +
                                  config_.control_socket);
  while (!stopping_) reactor_->run_once(std::chrono::milliseconds(1000));
  // Records appended since the last commit (cleanup, part acks) are worth keeping.
  Status committed = journal_.commit();
  if (!committed.ok()) write_log(LogLevel::kWarning, committed.error().describe());
  write_log(LogLevel::kInfo, "stopped");
  return {};
}

void Writer::request_stop() {
  uint64_t one = 1;
  ssize_t n = ::write(stop_fd_, &one, sizeof(one));
  (void)n;  // the counter cannot overflow from a handful of stop requests
}

WriterStats Writer::stats() const {
  WriterStats s = stats_;
  s.pending_files = uploads_.size();
  s.pending_bytes = 0;
  for (const auto& [id, u] : uploads_) s.pending_bytes += u.size;
  s.spool_used = spool_.used();
  s.spool_budget = spool_.budget();
  return s;
}

// `put` answers once the take is journaled, `flush` once everything before it is durable:
// both later, from the loop.
std::vector<ControlCommand> Writer::control_commands() {
  std::vector<ControlCommand> commands;
  commands.push_back({"put", false, [this](ControlRequest r, ControlRespond respond) {
                        handle_put(r.words, std::move(respond));
                      }});
  commands.push_back(
      ControlCommand::sync("status", [this](const ControlRequest&) { return status_reply(); }));
  commands.push_back({"flush", false, [this](ControlRequest r, ControlRespond respond) {
                        handle_flush(r.words, std::move(respond));
                      }});
  return commands;
}

void Writer::handle_put(const std::vector<std::string>& words, ControlRespond respond) {
  if (words.size() < 2 || words.size() > 3 || words[1].empty() || words[1][0] != '/')
    return respond(ControlReply::failure("usage: put ABSOLUTE_PATH [KEY]"));
  std::string key = words.size() == 3 ? config_.destination.prefix + words[2]
                                      : key_for_put(words[1]);
  take(words[1], key, true, [respond, key](Result<uint64_t> id) {
    if (!id.ok()) return respond(ControlReply::failure(id.error().describe()));
    ControlReply reply;
    reply.add("upload_id", std::to_string(*id));
    reply.add("key", key);
    respond(std::move(reply));
  });
}

void Writer::handle_flush(const std::vector<std::string>& words, ControlRespond respond) {
  uint64_t timeout_ms = 0;
  if (words.size() > 2 ||
      (words.size() == 2 && std::from_chars(words[1].data(), words[1].data() + words[1].size(),
                                            timeout_ms).ec != std::errc()))
    return respond(ControlReply::failure("usage: flush [TIMEOUT_MS]"));
  FlushWaiter w{journal_.state().next_upload_id, {}, std::move(respond), std::nullopt};
  for (auto& s : streams_) w.streams.emplace_back(s.get(), s->request_flush());
  if (flush_satisfied(w)) return w.respond(ControlReply());
  if (timeout_ms > 0) {
    uint64_t below = w.below_id;
    w.timer = reactor_->add_timer(std::chrono::milliseconds(timeout_ms), [this, below] {
      for (auto it = flush_waiters_.begin(); it != flush_waiters_.end(); ++it) {
        if (it->below_id != below || !it->timer) continue;
        uint64_t owed = 0;
        for (const auto& [id, u] : uploads_) owed += id < below ? 1 : 0;
        it->respond(ControlReply::failure(
            "flush timed out with " + plural(owed, "file") + " not yet durable" +
            (stats_.last_error.empty() ? "" : "; last error: " + stats_.last_error)));
        flush_waiters_.erase(it);
        return;
      }
    });
  }
  flush_waiters_.push_back(std::move(w));
}

bool Writer::flush_satisfied(const FlushWaiter& w) const {
  if (!uploads_.empty() && uploads_.begin()->first < w.below_id) return false;
  for (const auto& [stream, target] : w.streams)
    if (!stream->stopped() && stream->durable_offset() < target) return false;
  return true;
}

void Writer::check_flush_waiters() {
  for (auto it = flush_waiters_.begin(); it != flush_waiters_.end();) {
    if (!flush_satisfied(*it)) {
      ++it;
      continue;
    }
    if (it->timer) reactor_->cancel_timer(*it->timer);
    ControlReply reply;
    for (const auto& [stream, target] : it->streams)
      if (stream->stopped())
        reply = ControlReply::failure("append stream " + stream->file() +
                                      " is stopped: " + stream->last_error());
    it->respond(std::move(reply));
    it = flush_waiters_.erase(it);
  }
}

ControlReply Writer::status_reply() const {
  WriterStats s = stats();
  ControlReply r;
  r.add("destination", config_.destination.to_string());
  r.add("taken_files", std::to_string(s.taken_files));
  r.add("pending_files", std::to_string(s.pending_files));
  r.add("pending_bytes", std::to_string(s.pending_bytes));
  r.add("uploaded_files", std::to_string(s.uploaded_files));
  r.add("uploaded_bytes", std::to_string(s.uploaded_bytes));
  r.add("resumed_bytes", std::to_string(s.resumed_bytes));
  r.add("skipped_files", std::to_string(s.skipped_files));
  r.add("failed_attempts", std::to_string(s.failed_attempts));
  r.add("refused_files", std::to_string(s.refused_files));
  r.add("spool_used_bytes", std::to_string(s.spool_used));
  r.add("spool_budget_bytes", std::to_string(s.spool_budget));
  r.add("spool_full", s.spool_full ? "yes" : "no");
  r.add("last_upload_ms", ms_text(s.last_upload_ms));
  r.add("max_upload_ms", ms_text(s.max_upload_ms));
  r.add("last_error", s.last_error);
  for (const auto& stream : streams_) {
    r.add("stream", stream->file() + " -> " + stream->current_key() + " at " +
                        std::to_string(stream->durable_offset()) +
                        (stream->stopped() ? " STOPPED: " + stream->last_error() : ""));
  }
  if (retention_) r.add("retired_objects", std::to_string(retention_->removed()));
  return r;
}

}  // namespace shoal
