#include "writer/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

#include "common/fd_io.h"

namespace shoal {
namespace {

constexpr char kMagic[8] = {'S', 'H', 'O', 'A', 'L', 'J', 'N', 'L'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderSize = 32;
constexpr size_t kFrameHeaderSize = 8;  // u32 length, u8 type, u8 flags, u16 zero
constexpr size_t kFrameTrailerSize = 8;  // u64 xxh3
constexpr size_t kFrameOverhead = kFrameHeaderSize + kFrameTrailerSize;
// Records hold a few paths and keys; anything larger is a damaged length field.
constexpr uint32_t kMaxPayload = 1u << 20;
constexpr uint8_t kCommitEnd = 1;

template <class Int>
Int load(const char* p) {
  Int v;
  std::memcpy(&v, p, sizeof(Int));
  return v;
}
template <class Int>
void store(char* p, Int v) {
  std::memcpy(p, &v, sizeof(Int));
}

std::string encode_header(uint64_t next_upload_id) {
  std::string h(kHeaderSize, '\0');
  std::memcpy(h.data(), kMagic, sizeof(kMagic));
  store<uint32_t>(h.data() + 8, kVersion);
  store<uint32_t>(h.data() + 12, kHeaderSize);
  store<uint64_t>(h.data() + 16, next_upload_id);
  store<uint64_t>(h.data() + 24, XXH3_64bits(h.data(), 24));
  return h;
}

// Sets a frame's flags and (re)computes its checksum, which covers the flags.
void seal_frame(std::string& buf, size_t start, uint8_t flags) {
  char* frame = buf.data() + start;
  store<uint8_t>(frame + 5, flags);
  size_t covered = kFrameHeaderSize + load<uint32_t>(frame);
  store<uint64_t>(frame + covered, XXH3_64bits(frame, covered));
}

// Appends one framed record to `out`; returns where the frame starts.
size_t append_frame(const JournalRecord& record, std::string& out) {
  size_t start = out.size();
  out.resize(start + kFrameHeaderSize);
  encode_journal_payload(record, out);
  char* frame = out.data() + start;
  store<uint32_t>(frame, static_cast<uint32_t>(out.size() - start - kFrameHeaderSize));
  store<uint8_t>(frame + 4, journal_record_type(record));
  store<uint16_t>(frame + 6, 0);
  out.resize(out.size() + kFrameTrailerSize);
  seal_frame(out, start, 0);
  return start;
}

struct Frame {
  uint8_t type = 0;
  uint8_t flags = 0;
  std::string_view payload;
  uint64_t end = 0;
};

// A frame that is complete and whose checksum holds, or nothing.
std::optional<Frame> parse_frame(std::string_view file, uint64_t offset) {
  if (file.size() - offset < kFrameOverhead) return std::nullopt;
  const char* p = file.data() + offset;
  uint32_t length = load<uint32_t>(p);
  if (length > kMaxPayload || file.size() - offset - kFrameOverhead < length) return std::nullopt;
  size_t covered = kFrameHeaderSize + length;
  if (XXH3_64bits(p, covered) != load<uint64_t>(p + covered)) return std::nullopt;
  std::string_view payload = file.substr(offset + kFrameHeaderSize, length);
  return Frame{load<uint8_t>(p + 4), load<uint8_t>(p + 5), payload,
               offset + covered + kFrameTrailerSize};
}

// Whether a complete commit was written somewhere after `offset`: if so, the bytes at
// `offset` had been acknowledged as durable before it, so damage there is not a torn write.
bool commit_follows(std::string_view file, uint64_t offset) {
  for (uint64_t p = offset + 1; p + kFrameOverhead <= file.size(); ++p) {
    auto frame = parse_frame(file, p);
    if (frame && (frame->flags & kCommitEnd)) return true;
  }
  return false;
}

Result<std::string> read_all(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_error("stat", errno);
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  // A file that shrank under us replays what is there.
  SHOAL_ASSIGN(size_t done, pread_full(fd, bytes.data(), bytes.size(), 0, "read"));
  bytes.resize(done);
  return bytes;
}

Status sync_file(int fd) {
  if (::fdatasync(fd) != 0) return errno_error("fdatasync", errno);
  return {};
}

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Makes a rename in the journal's directory durable.
Status sync_dir(const std::string& path) {
  std::string dir = parent_dir(path);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_error("open directory " + dir, errno);
  Status s = {};
  if (::fsync(fd) != 0) s = errno_error("fsync directory " + dir, errno);
  ::close(fd);
  return s;
}

Status lock_exclusive(int fd, const std::string& path) {
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return {};
  if (errno == EWOULDBLOCK) {
    return Error(ErrorKind::kIo, "journal " + path + " is in use by another writer process");
  }
  return errno_error("lock journal " + path, errno);
}

std::string temp_path(const std::string& path) { return path + ".compact"; }

// Writes `bytes` to the temp file beside `path`, locked and fsynced; the caller renames it.
Result<int> write_temp(const std::string& path, const std::string& bytes) {
  std::string tmp = temp_path(path);
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return errno_error("create " + tmp, errno);
  Status s = lock_exclusive(fd, tmp);
  if (s.ok()) s = pwrite_all(fd, bytes, 0, "write");
  if (s.ok()) s = sync_file(fd);
  if (!s.ok()) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return std::move(s).error().with_context("journal " + tmp);
  }
  return fd;
}

Result<int> rename_temp_into_place(const std::string& path, int fd) {
  if (::rename(temp_path(path).c_str(), path.c_str()) != 0) {
    Error e = errno_error("rename " + temp_path(path) + " to " + path, errno);
    ::close(fd);
    ::unlink(temp_path(path).c_str());
    return e;
  }
  return fd;
}

// A new, empty journal appears whole or not at all.
Result<int> create_journal(const std::string& path) {
  SHOAL_ASSIGN(int fd, write_temp(path, encode_header(1)));
  SHOAL_ASSIGN(fd, rename_temp_into_place(path, fd));
  Status s = sync_dir(path);
  if (!s.ok()) {
    ::close(fd);
    return std::move(s).error();
  }
  return fd;
}

bool same_file(int fd, const std::string& path) {
  struct stat open_st {}, path_st {};
  return ::fstat(fd, &open_st) == 0 && ::stat(path.c_str(), &path_st) == 0 &&
         open_st.st_ino == path_st.st_ino && open_st.st_dev == path_st.st_dev;
}

// Opens and locks the journal file. A compaction by another process can replace the file
// between our open and our lock, so the lock is only trusted if the path still names it.
Result<int> open_locked(const std::string& path) {
  for (;;) {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return create_journal(path);
    if (fd < 0) return errno_error("open journal " + path, errno);
    Status locked = lock_exclusive(fd, path);
    if (!locked.ok()) {
      ::close(fd);
      return std::move(locked).error();
    }
    if (same_file(fd, path)) return fd;
    ::close(fd);
  }
}

Status check_header(std::string_view file, const std::string& path, uint64_t& next_upload_id) {
  auto corrupt = [&](const std::string& what) {
    return Error(ErrorKind::kCorrupt, "journal " + path + ": " + what +
                                          "; move it aside to start a fresh journal");
  };
  if (file.size() < kHeaderSize) {
    return corrupt(std::to_string(file.size()) + " bytes, shorter than the header");
  }
  if (std::memcmp(file.data(), kMagic, sizeof(kMagic)) != 0) return corrupt("not a shoal journal");
  if (XXH3_64bits(file.data(), 24) != load<uint64_t>(file.data() + 24)) {
    return corrupt("header checksum mismatch");
  }
  uint32_t version = load<uint32_t>(file.data() + 8);
  if (version != kVersion || load<uint32_t>(file.data() + 12) != kHeaderSize) {
    return Error(ErrorKind::kUnsupported, "journal " + path + " has format version " +
                                              std::to_string(version) + "; this shoal reads " +
                                              std::to_string(kVersion));
  }
  next_upload_id = load<uint64_t>(file.data() + 16);
  return {};
}

Error unknown_upload(uint64_t id) {
  return Error(ErrorKind::kInvalidArgument, "upload id " + std::to_string(id) + " is not live");
}

// Folds one record into the state, refusing records that do not fit it.
struct StateFolder {
  JournalState& state;
  const JournalOptions& options;
  bool replaying;  // replay trusts the id order that append() checked
  std::set<uint64_t>& reserved;

  Status operator()(const FileTaken& r) {
    bool fresh = replaying || r.upload_id >= state.next_upload_id || reserved.count(r.upload_id);
    if (r.upload_id == 0 || state.uploads.count(r.upload_id) || !fresh) {
      return Error(ErrorKind::kInvalidArgument,
                   "upload id " + std::to_string(r.upload_id) + " is already used");
    }
    reserved.erase(r.upload_id);
    state.uploads[r.upload_id].taken = r;
    state.next_upload_id = std::max(state.next_upload_id, r.upload_id + 1);
    return {};
  }
  Status operator()(const AppendAdvanced& r) {
    state.streams[r.stream_id] = AppendStreamState{r.key, r.position};
    return {};
  }
  Status operator()(const MultipartStarted& r) {
    return update(r.upload_id, false, [&](UploadState& u) -> Status {
      if (u.completed_etag) return unknown_upload(r.upload_id);
      u.multipart = r;
      u.parts.clear();
      return {};
    });
  }
  Status operator()(const PartUploaded& r) {
    return update(r.upload_id, false, [&](UploadState& u) -> Status {
      if (!u.multipart || r.part_number == 0) {
        return Error(ErrorKind::kInvalidArgument,
                     "part " + std::to_string(r.part_number) + " of upload " +
                         std::to_string(r.upload_id) + " without a multipart upload");
      }
      u.parts[r.part_number] = r;
      return {};
    });
  }
  Status operator()(const UploadCompleted& r) {
    return update(r.upload_id, false, [&](UploadState& u) -> Status {
      u.completed_etag = r.etag;
      u.multipart.reset();  // parts matter only until the object exists
      u.parts.clear();
      return {};
    });
  }
  Status operator()(const DeletedLocally& r) {
    return update(r.upload_id, true, [](UploadState& u) -> Status {
      u.deleted_locally = true;
      return {};
    });
  }
  Status operator()(const RetiredRemotely& r) {
    return update(r.upload_id, true, [](UploadState& u) -> Status {
      u.retired_remotely = true;
      return {};
    });
  }

  // Applies `change` to a live upload, then forgets the upload once nothing is owed on it.
  // Cleanup records may outlive an upload forgotten under other options, so replay skips them.
  template <class Change>
  Status update(uint64_t id, bool cleanup, Change change) {
    auto it = state.uploads.find(id);
    if (it == state.uploads.end()) return replaying && cleanup ? Status{} : unknown_upload(id);
    SHOAL_TRY(change(it->second));
    const UploadState& u = it->second;
    if (u.completed_etag && u.deleted_locally &&
        (u.retired_remotely || !options.keep_until_retired)) {
      state.uploads.erase(it);
    }
    return {};
  }
};

}  // namespace

Journal::Journal(std::string path, JournalOptions options, int fd)
    : path_(std::move(path)), options_(options), fd_(fd) {}

Journal::Journal(Journal&& other) noexcept { *this = std::move(other); }

Journal& Journal::operator=(Journal&& other) noexcept {
  if (this == &other) return *this;
  close_fd();
  path_ = std::move(other.path_);
  options_ = other.options_;
  fd_ = std::exchange(other.fd_, -1);
  state_ = std::move(other.state_);
  replay_ = other.replay_;
  pending_ = std::move(other.pending_);
  last_pending_frame_ = other.last_pending_frame_;
  pending_records_ = other.pending_records_;
  file_size_ = other.file_size_;
  records_in_file_ = other.records_in_file_;
  poisoned_ = std::move(other.poisoned_);
  reserved_ids_ = std::move(other.reserved_ids_);
  return *this;
}

Journal::~Journal() { close_fd(); }

void Journal::close_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<Journal> Journal::open(std::string path, JournalOptions options) {
  std::error_code ec;
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return Error(ErrorKind::kIo, "create journal directory " + parent.string() + ": " + ec.message());
  SHOAL_ASSIGN(int fd, open_locked(path));
  Journal journal(std::move(path), options, fd);
  // Holding the lock, a leftover temp file can only be from a compaction that died before
  // its rename: the journal itself is still the authority.
  if (::unlink(temp_path(journal.path_).c_str()) != 0 && errno != ENOENT) {
    return errno_error("remove stale " + temp_path(journal.path_), errno);
  }
  SHOAL_TRY(journal.replay_file());
  return journal;
}

Status Journal::replay_file() {
  SHOAL_ASSIGN(std::string file, read_all(fd_));
  SHOAL_TRY(check_header(file, path_, state_.next_upload_id));
  uint64_t offset = kHeaderSize;
  while (offset < file.size()) {
    auto frame = parse_frame(file, offset);
    if (!frame) return cut_tail(file, offset);
    auto at = [&](const Error& e) {
      Error out = e.with_context("journal " + path_ + " at offset " + std::to_string(offset));
      if (out.kind == ErrorKind::kInvalidArgument) out.kind = ErrorKind::kCorrupt;
      return out;
    };
    auto record = decode_journal_payload(frame->type, frame->payload);
    if (!record.ok()) return at(record.error());
    Status applied = apply(*record, Mode::kReplay);
    if (!applied.ok()) return at(applied.error());
    ++replay_.records;
    ++records_in_file_;
    offset = frame->end;
  }
  file_size_ = file.size();
  return {};
}

Status Journal::cut_tail(std::string_view file, uint64_t offset) {
  if (commit_follows(file, offset)) {
    return Error(ErrorKind::kCorrupt,
                 "journal " + path_ + " is damaged at offset " + std::to_string(offset) +
                     " and complete commits follow it, so acknowledged records would be lost; "
                     "restore it or move it aside (uploads it tracks must then be redone)");
  }
  if (::ftruncate(fd_, static_cast<off_t>(offset)) != 0) {
    return errno_error("cut torn tail of journal " + path_, errno);
  }
  SHOAL_TRY(sync_file(fd_));
  replay_.bytes_cut = file.size() - offset;
  replay_.cut_offset = offset;
  file_size_ = offset;
  return {};
}

Status Journal::apply(const JournalRecord& record, Mode mode) {
  return std::visit(StateFolder{state_, options_, mode == Mode::kReplay, reserved_ids_}, record);
}

uint64_t Journal::reserve_upload_id() {
  uint64_t id = state_.next_upload_id++;
  reserved_ids_.insert(id);
  return id;
}

Status Journal::fail_if_poisoned() const {
  if (!poisoned_) return {};
  return poisoned_->with_context("journal unusable after an earlier failure; reopen it");
}

Status Journal::append(const JournalRecord& record) {
  SHOAL_TRY(fail_if_poisoned());
  std::string frame;
  append_frame(record, frame);
  if (frame.size() - kFrameOverhead > kMaxPayload) {
    return Error(ErrorKind::kInvalidArgument,
                 "journal record of " + std::to_string(frame.size()) + " bytes exceeds the limit");
  }
  SHOAL_TRY(apply(record, Mode::kAppend));
  last_pending_frame_ = pending_.size();
  pending_ += frame;
  ++pending_records_;
  return {};
}

Status Journal::commit() {
  SHOAL_TRY(fail_if_poisoned());
  if (pending_.empty()) return {};
  seal_frame(pending_, last_pending_frame_, kCommitEnd);
  Status written = pwrite_all(fd_, pending_, file_size_, "write");
  if (!written.ok()) {
    seal_frame(pending_, last_pending_frame_, 0);
    Error e = std::move(written).error().with_context(
        "journal " + path_ + ": commit of " + std::to_string(pending_records_) +
        " records at offset " + std::to_string(file_size_));
    // Cut the partial write back so the records can be committed again once space frees.
    if (::ftruncate(fd_, static_cast<off_t>(file_size_)) != 0) poisoned_ = e;
    return e;
  }
  Status synced = sync_file(fd_);
  if (!synced.ok()) {
    // After a failed fsync the kernel may have dropped the dirty pages: nothing written
    // since the last good commit can be trusted until the file is reopened and replayed.
    poisoned_ = std::move(synced).error().with_context("journal " + path_);
    return *poisoned_;
  }
  file_size_ += pending_.size();
  records_in_file_ += pending_records_;
  pending_.clear();
  pending_records_ = 0;
  return {};
}

uint64_t Journal::live_records() const {
  uint64_t n = state_.streams.size();
  for (const auto& [id, u] : state_.uploads) {
    n += 1 + (u.multipart ? 1 : 0) + u.parts.size() + (u.completed_etag ? 1 : 0) +
         (u.deleted_locally ? 1 : 0) + (u.retired_remotely ? 1 : 0);
  }
  return n;
}

bool Journal::compaction_due() const {
  uint64_t total = records_in_file_ + pending_records_;
  uint64_t dead = total - std::min(total, live_records());
  return file_size_ + pending_.size() >= options_.compact_min_bytes && dead > 0 &&
         static_cast<double>(dead) >= options_.compact_dead_fraction * static_cast<double>(total);
}

std::string Journal::encode_snapshot(uint64_t& records) const {
  std::string out = encode_header(state_.next_upload_id);
  size_t last = 0;
  auto add = [&](const JournalRecord& r) {
    last = append_frame(r, out);
    ++records;
  };
  for (const auto& [id, u] : state_.uploads) {
    add(u.taken);
    if (u.multipart) add(*u.multipart);
    for (const auto& [number, part] : u.parts) add(part);
    if (u.completed_etag) add(UploadCompleted{id, *u.completed_etag});
    if (u.deleted_locally) add(DeletedLocally{id});
    if (u.retired_remotely) add(RetiredRemotely{id});
  }
  for (const auto& [id, s] : state_.streams) add(AppendAdvanced{id, s.key, s.position});
  if (records > 0) seal_frame(out, last, kCommitEnd);
  return out;
}

Status Journal::compact() {
  SHOAL_TRY(commit());
  uint64_t records = 0;
  std::string snapshot = encode_snapshot(records);
  SHOAL_ASSIGN(int fd, write_temp(path_, snapshot));
  SHOAL_ASSIGN(fd, rename_temp_into_place(path_, fd));
  // From the rename on, the path names the new file: append only to it.
  close_fd();
  fd_ = fd;
  file_size_ = snapshot.size();
  records_in_file_ = records;
  Status synced = sync_dir(path_);
  if (synced.ok()) return {};
  poisoned_ = std::move(synced).error().with_context("journal " + path_);
  return *poisoned_;
}

Result<bool> Journal::compact_if_due() {
  if (!compaction_due()) return false;
  SHOAL_TRY(compact());
  return true;
}

JournalCommitter::JournalCommitter(Reactor& reactor, Journal& journal)
    : reactor_(reactor), journal_(journal) {}

void JournalCommitter::request(std::function<void(Status)> on_durable) {
  waiting_.push_back(std::move(on_durable));
  if (waiting_.size() > 1) return;  // a commit is already scheduled for this turn
  reactor_.post([this, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.lock()) run();
  });
}

void JournalCommitter::run() {
  auto waiting = std::move(waiting_);
  waiting_.clear();
  Status result = journal_.commit();
  for (auto& done : waiting) done(result);
}

}  // namespace shoal
