// Taking files: capture into the spool, journal, acknowledge; the spool budget; rescans.
#include <fcntl.h>
#include <fnmatch.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <utility>

#include "common/log.h"
#include "writer/remote_check.h"
#include "writer/writer.h"

namespace shoal {
namespace {

// Whether some process holds `path` open for writing: then its close (IN_CLOSE_WRITE) is still
// to come, and taking it now would upload a partial file. A read lease is refused exactly in
// that case. Where leases are unavailable (other owner without CAP_LEASE, some file systems)
// the answer is "no" and the file is taken.
bool open_for_writing(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  bool busy = ::fcntl(fd, F_SETLEASE, F_RDLCK) != 0 && errno == EAGAIN;
  if (!busy) ::fcntl(fd, F_SETLEASE, F_UNLCK);
  ::close(fd);
  return busy;
}

std::string base_name(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// Removes the watcher's landing link however the take ends (once captured, the spool entry
// holds the file), unless a capture in progress took it over.
struct LandingLink {
  std::string path;
  ~LandingLink() {
    if (!path.empty()) ::unlink(path.c_str());
  }
  std::string release() { return std::exchange(path, {}); }
};

}  // namespace

std::string Writer::key_for(const std::string& root, const std::string& path) const {
  return config_.destination.prefix + path.substr(root.size() + 1);
}

// A file under a watched directory keeps its relative path; any other file its base name.
std::string Writer::key_for_put(const std::string& path) const {
  for (const auto& root : config_.watch)
    if (path.starts_with(root + "/")) return key_for(root, path);
  return config_.destination.prefix + base_name(path);
}

bool Writer::ignored(const std::string& root, const std::string& path) const {
  std::string_view rest = std::string_view(path).substr(root.size() + 1);
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string part(rest.substr(0, slash));
    for (const auto& pattern : config_.ignore)
      if (::fnmatch(pattern.c_str(), part.c_str(), 0) == 0) return true;
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return false;
}

void Writer::take(const std::string& source, const std::string& key, bool explicit_put,
                  Acked acked, const std::string& landed) {
  LandingLink landing{landed};
  const std::string& from = landed.empty() ? source : landed;
  auto identity = identify_file(from);
  if (!identity.ok()) {
    refuse(source, identity.error(), explicit_put);
    return acked(std::move(identity).error().with_context("take"));
  }
  auto known = known_.find(source);
  bool already = (known != known_.end() && known->second == *identity) || capturing_.count(source);
  if (!explicit_put && already) return acked(0);
  if (spool_.budget() > 0 && identity->size > spool_.budget()) {
    Error e(ErrorKind::kNoSpace, source + " (" + std::to_string(identity->size) +
                                     " bytes) is larger than the whole spool budget of " +
                                     std::to_string(spool_.budget()) + " bytes; raise spool_budget");
    refuse(source, e, true);
    return acked(e);
  }
  if (!spool_.fits(identity->size)) {
    set_spool_full(source, identity->size);
    return acked(Error(ErrorKind::kNoSpace, "spool " + spool_.dir() + " is full (" +
                                                std::to_string(spool_.used()) + " of " +
                                                std::to_string(spool_.budget()) +
                                                " bytes); " + source + " was not taken"));
  }
  // The capture (a link or a copy, and fsyncs) runs on a worker; the loop goes on meanwhile.
  uint64_t id = journal_.reserve_upload_id();
  uint64_t held = identity->size;
  spool_.hold(held);
  capturing_.insert(source);
  workers_->run<Result<CapturedFile>>(
      [&spool = spool_, from = std::string(from), id] { return spool.capture(from, id); },
      [this, id, held, source, key, landed = landing.release(),
       acked = std::move(acked)](Result<CapturedFile> captured) mutable {
        if (!landed.empty()) ::unlink(landed.c_str());
        spool_.unhold(held);
        capturing_.erase(capturing_.find(source));
        if (!captured.ok()) {
          journal_.abandon_upload_id(id);
          refuse(source, captured.error(), true);
          return acked(std::move(captured).error());
        }
        spool_.admit(*captured);
        record_taken(id, source, key, *captured, std::move(acked));
      });
}

void Writer::record_taken(uint64_t id, const std::string& source, const std::string& key,
                          const CapturedFile& captured, Acked acked) {
  FileTaken taken{id, source, captured.path, key, captured.size, captured.mtime_ns, std::nullopt};
  known_[source] = FileIdentity{captured.size, captured.mtime_ns};
  track(id, taken, false);
  link_.record(taken, [this, id, acked = std::move(acked), alive = std::weak_ptr<bool>(alive_)](
                          Status durable) {
    if (!alive.lock()) return;
    // A failed commit keeps the record buffered for the next one, so the upload goes on; the
    // requester learns that the take is not yet durable.
    if (!durable.ok()) {
      stats_.last_error = durable.error().describe();
      write_log(LogLevel::kError, stats_.last_error);
    }
    enqueue(id);
    pump();
    if (!durable.ok()) return acked(durable.error());
    ++stats_.taken_files;
    acked(id);
  });
}

void Writer::refuse(const std::string& source, const Error& error, bool loud) {
  ++stats_.refused_files;
  // A file deleted between its close and our look was not meant to be kept: say so quietly.
  bool vanished = error.kind == ErrorKind::kNotFound;
  if (!vanished || loud) stats_.last_error = "not taken: " + error.describe();
  write_log(vanished && !loud ? LogLevel::kInfo : LogLevel::kError,
             "not taking " + source + ": " + error.describe());
}

void Writer::set_spool_full(const std::string& source, uint64_t size) {
  ++stats_.refused_files;
  if (stats_.spool_full) return;
  stats_.spool_full = true;
  stats_.last_error = "spool full: " + std::to_string(spool_.used()) + " of " +
                      std::to_string(spool_.budget()) + " bytes used; new files are not taken";
  write_log(LogLevel::kError,
             "SPOOL FULL: " + spool_.dir() + " holds " + std::to_string(spool_.used()) + " of " +
                 std::to_string(spool_.budget()) + " bytes; not taking " + source + " (" +
                 std::to_string(size) + " bytes) or any new file until uploads free space; "
                 "files left in the watched directories will be taken then");
}

void Writer::on_spool_freed() {
  if (!stats_.spool_full) return;
  stats_.spool_full = false;
  write_log(LogLevel::kInfo, "spool has room again (" + std::to_string(spool_.used()) + " of " +
                                  std::to_string(spool_.budget()) +
                                  " bytes); rescanning the watched directories");
  request_rescan();
}

void Writer::on_found(const Watcher::Found& found) {
  if (ignored(found.root, found.path)) return;
  if (found.landed.empty()) {
    rescan_queue_.emplace_back(found.root, found.path);
    if (!rescanning_) rescan_next();
    return;
  }
  if (stats_.spool_full) {
    ++stats_.refused_files;  // taken by the rescan once the spool has room, if still there
    ::unlink(found.landed.c_str());
    return;
  }
  take(found.path, key_for(found.root, found.path), false, [](Result<uint64_t>) {}, found.landed);
}

void Writer::request_rescan() {
  if (rescanning_) {
    rescan_again_ = true;
    return;
  }
  rescan_queue_.clear();
  for (const auto& root : config_.watch) {
    std::error_code ec;
    auto options = std::filesystem::directory_options::skip_permission_denied;
    for (std::filesystem::recursive_directory_iterator it(root, options, ec), end;
         !ec && it != end; it.increment(ec)) {
      std::error_code type_ec;
      if (!it->is_regular_file(type_ec) || it->is_symlink(type_ec)) continue;
      std::string path = it->path().string();
      if (!ignored(root, path)) rescan_queue_.emplace_back(root, path);
    }
  }
  rescan_next();
}

// One file at a time: skip what is already taken, still being written, or already in the
// store byte for byte; take the rest.
void Writer::rescan_next() {
  rescanning_ = false;
  while (!rescan_queue_.empty() && !stats_.spool_full) {
    // Not a structured binding: the callback below captures both, which clang before 16
    // refuses for bindings.
    std::string root = std::move(rescan_queue_.front().first);
    std::string path = std::move(rescan_queue_.front().second);
    rescan_queue_.pop_front();
    auto identity = identify_file(path);
    if (!identity.ok()) continue;  // gone since the listing
    auto known = known_.find(path);
    if (known != known_.end() && known->second == *identity) continue;
    if (open_for_writing(path)) continue;  // its IN_CLOSE_WRITE will come
    rescanning_ = true;
    std::string key = key_for(root, path);
    uint64_t part_size = upload_part_size(upload_options_, identity->size, store_->capabilities());
    remote_matches(*store_, key, path, identity->size, part_size,
                   [this, root, path, key, identity = *identity,
                    alive = std::weak_ptr<bool>(alive_)](Result<RemoteMatch> match) {
                     if (!alive.lock()) return;
                     if (match.ok() && *match) {
                       known_[path] = identity;
                       ++stats_.skipped_files;
                       return rescan_next();
                     }
                     take(path, key, false, [this](Result<uint64_t>) { rescan_next(); });
                   });
    return;
  }
  if (rescan_again_) {
    rescan_again_ = false;
    request_rescan();
  }
}

}  // namespace shoal
