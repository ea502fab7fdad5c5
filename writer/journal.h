// The writer's journal: an append-only local log of what the writer has taken, uploaded and
// cleaned up, so that a restart (after a crash, kill -9 or power loss) knows exactly which
// work is still owed to the object store.
//
// File format (little-endian throughout):
//   header  32 bytes: "SHOALJNL" | u32 version | u32 header size | u64 next upload id |
//                     u64 xxh3 of the preceding 24 bytes
//   frames, one per record:
//           u32 payload length | u8 record type | u8 flags | u16 zero | payload |
//           u64 xxh3 of everything before it in the frame
// The last frame written by each commit carries the commit-end flag. A commit is one write
// followed by one fdatasync, and the next commit starts only after it, so a crash can tear
// only the last commit: a bad frame with no valid commit-end frame after it is a torn tail
// and is cut; a bad frame followed by one is damage to history that reached the disk, and
// replay refuses it (kCorrupt) rather than drop acknowledged records.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/reactor.h"
#include "common/result.h"

namespace shoal {

// A file captured into the spool: the upload starts here. Ids are allocated by the caller
// from JournalState::next_upload_id.
struct FileTaken {
  uint64_t upload_id = 0;
  std::string source_path;  // where the job wrote it
  std::string spool_path;   // the writer's own hard link or copy
  std::string key;          // destination key
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::optional<uint64_t> crc64;  // CRC-64/ECMA of the content, when already computed
  bool operator==(const FileTaken&) const = default;
};

// Starting (or restarting, after an abort) a multipart upload; earlier parts are forgotten.
struct MultipartStarted {
  uint64_t upload_id = 0;
  std::string multipart_id;  // the store's UploadId
  uint64_t part_size = 0;
  bool operator==(const MultipartStarted&) const = default;
};

// One part acknowledged by the store; a later record for the same number replaces it.
struct PartUploaded {
  uint64_t upload_id = 0;
  uint32_t part_number = 0;
  std::string etag;
  uint64_t crc64 = 0;
  uint64_t size = 0;
  bool operator==(const PartUploaded&) const = default;
};

// The object is durable under its final key.
struct UploadCompleted {
  uint64_t upload_id = 0;
  std::string etag;
  bool operator==(const UploadCompleted&) const = default;
};

// An append-mode stream's next position (OSS AppendObject) or its current segment key.
struct AppendAdvanced {
  uint64_t stream_id = 0;
  std::string key;
  uint64_t position = 0;
  bool operator==(const AppendAdvanced&) const = default;
};

// The spool copy was removed.
struct DeletedLocally {
  uint64_t upload_id = 0;
  bool operator==(const DeletedLocally&) const = default;
};

// Retention deleted the remote object.
struct RetiredRemotely {
  uint64_t upload_id = 0;
  bool operator==(const RetiredRemotely&) const = default;
};

using JournalRecord = std::variant<FileTaken, MultipartStarted, PartUploaded, UploadCompleted,
                                   AppendAdvanced, DeletedLocally, RetiredRemotely>;

// The on-disk type tag of a record; stable across versions.
uint8_t journal_record_type(const JournalRecord& record);
// Appends the payload of `record` (without framing) to `out`.
void encode_journal_payload(const JournalRecord& record, std::string& out);
// The inverse of encode_journal_payload; kCorrupt on a malformed payload, kUnsupported on an
// unknown type.
Result<JournalRecord> decode_journal_payload(uint8_t type, std::string_view payload);

// An upload the writer still owes work on (or, with keep_until_retired, still tracks).
struct UploadState {
  FileTaken taken;
  std::optional<MultipartStarted> multipart;  // cleared on completion
  std::map<uint32_t, PartUploaded> parts;     // by part number; cleared on completion
  std::optional<std::string> completed_etag;
  bool deleted_locally = false;
  bool retired_remotely = false;
  bool operator==(const UploadState&) const = default;
};

struct AppendStreamState {
  std::string key;
  uint64_t position = 0;
  bool operator==(const AppendStreamState&) const = default;
};

// What replaying the journal yields.
struct JournalState {
  std::map<uint64_t, UploadState> uploads;
  std::map<uint64_t, AppendStreamState> streams;
  uint64_t next_upload_id = 1;  // above every id ever taken, also across compactions
  bool operator==(const JournalState&) const = default;
};

struct JournalOptions {
  // With retention, completed uploads stay tracked until retired remotely; without it an
  // upload is forgotten once it is completed and its spool copy deleted.
  bool keep_until_retired = false;
  // compact_if_due() rewrites the file once it is at least this large and at least this
  // fraction of its records no longer describe the live state.
  uint64_t compact_min_bytes = 1u << 20;
  double compact_dead_fraction = 0.5;
};

// What open() found on disk.
struct JournalReplay {
  uint64_t records = 0;    // valid records replayed
  uint64_t bytes_cut = 0;  // torn tail removed (0 when the journal ended cleanly)
  uint64_t cut_offset = 0; // where the cut was made, when bytes_cut > 0
};

class Journal {
 public:
  // Opens (creating if absent) and replays the journal at `path`. A torn or corrupt tail
  // (the last, unacknowledged commit) is cut and reported; damage followed by a complete
  // commit is kCorrupt naming the offset. One process at a time: a second open fails.
  static Result<Journal> open(std::string path, JournalOptions options = {});

  Journal(Journal&& other) noexcept;
  Journal& operator=(Journal&& other) noexcept;
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  ~Journal();

  const std::string& path() const { return path_; }
  const JournalReplay& replay() const { return replay_; }
  // The state including appended records that are not yet committed.
  const JournalState& state() const { return state_; }

  // Checks `record` against the state (kInvalidArgument if it refers to an unknown upload or
  // re-takes a known id), folds it in and buffers it for the next commit.
  Status append(const JournalRecord& record);
  // An id for a FileTaken record appended later, possibly after records with higher ids
  // (captures run concurrently and finish in any order). An id reserved but never recorded is
  // simply never used; after a restart ids continue above the highest one recorded.
  uint64_t reserve_upload_id();
  // Gives up a reservation whose file was not taken after all.
  void abandon_upload_id(uint64_t id) { reserved_ids_.erase(id); }
  // Writes every buffered record and fdatasyncs once. On a write error (e.g. ENOSPC →
  // kNoSpace) the file is cut back and the records stay buffered, so commit() may be retried;
  // after an fsync error the journal refuses further use and must be reopened.
  Status commit();
  bool has_pending() const { return !pending_.empty(); }
  uint64_t pending_bytes() const { return pending_.size(); }

  uint64_t file_size() const { return file_size_; }
  uint64_t records_in_file() const { return records_in_file_; }
  // Records needed to describe the live state; the rest of the file is dead weight.
  uint64_t live_records() const;
  bool compaction_due() const;
  // Commits, then rewrites the journal with only the live state: temp file, fsync, rename,
  // fsync of the directory. A crash at any step leaves either the old or the new journal.
  Status compact();
  // compact() when compaction_due(); returns whether it ran.
  Result<bool> compact_if_due();

 private:
  enum class Mode { kAppend, kReplay };
  Journal(std::string path, JournalOptions options, int fd);
  Status replay_file();
  Status cut_tail(std::string_view file, uint64_t offset);
  Status apply(const JournalRecord& record, Mode mode);
  std::string encode_snapshot(uint64_t& records) const;
  Status fail_if_poisoned() const;
  void close_fd();

  std::string path_;
  JournalOptions options_;
  int fd_ = -1;
  JournalState state_;
  JournalReplay replay_;
  std::string pending_;  // encoded frames not yet written
  size_t last_pending_frame_ = 0;
  uint64_t pending_records_ = 0;
  uint64_t file_size_ = 0;
  uint64_t records_in_file_ = 0;
  std::optional<Error> poisoned_;
  std::set<uint64_t> reserved_ids_;  // below state_.next_upload_id, not yet taken
};

// Group commit on an event loop: every commit requested during one loop turn shares one
// write + fdatasync, run from a posted callback. Each requester learns the outcome. The
// journal must outlive the committer; requests pending when it is destroyed never complete.
class JournalCommitter {
 public:
  JournalCommitter(Reactor& reactor, Journal& journal);
  JournalCommitter(const JournalCommitter&) = delete;
  JournalCommitter& operator=(const JournalCommitter&) = delete;

  // Call after append(); on_durable runs (on the loop, never inline) once the records
  // appended so far are on disk, or with the error that kept them from it.
  void request(std::function<void(Status)> on_durable);

 private:
  void run();

  Reactor& reactor_;
  Journal& journal_;
  std::vector<std::function<void(Status)>> waiting_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shoal
