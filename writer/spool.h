// The spool: the writer's own directory of captured files. A taken file is hard-linked into it
// (a copy when the link is impossible, e.g. across file systems), so the job may delete or
// replace its file the moment after; the spool entry lives until the upload is durable.
//
// A hard link shares the job's inode: a job that rewrites a file in place (rather than writing
// a new file and renaming it, or deleting it) changes the spooled bytes too. Checkpoint
// writers replace files, which is what this design relies on; see docs/writer.md.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "common/result.h"

namespace shoal {

struct CapturedFile {
  std::string path;  // inside the spool
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  bool copied = false;  // false: a hard link
};

class Spool {
 public:
  // Creates the directory if needed. budget 0 means no limit.
  static Result<Spool> open(std::string dir, uint64_t budget);

  const std::string& dir() const { return dir_; }
  std::string path_of(uint64_t upload_id) const;

  // Captures `source` as entry `upload_id`: data and directory entry are fsynced before this
  // returns, so a journal record naming the entry may be committed right after. Blocking, and
  // safe to run on a worker thread: it touches no state. The caller checks the budget
  // (fits()), holds the bytes with hold() meanwhile and counts the entry with admit().
  Result<CapturedFile> capture(const std::string& source, uint64_t upload_id) const;
  // Bytes of a capture in progress count against the budget until it ends.
  void hold(uint64_t size) { held_ += size; }
  void unhold(uint64_t size) { held_ -= size; }
  void admit(const CapturedFile& entry) { used_ += entry.size; }
  // Removes an entry (absent is fine) and gives its bytes back to the budget.
  Status release(const std::string& path, uint64_t size);
  // Counts an entry that already exists (replay after a restart).
  void account(uint64_t size) { used_ += size; }
  // Removes every entry not in `live`: captures whose journal record never became durable.
  Status remove_orphans(const std::set<std::string>& live);

  bool fits(uint64_t size) const { return budget_ == 0 || used_ + held_ + size <= budget_; }
  uint64_t used() const { return used_; }
  uint64_t budget() const { return budget_; }

 private:
  Spool(std::string dir, uint64_t budget) : dir_(std::move(dir)), budget_(budget) {}
  Result<CapturedFile> copy_in(const std::string& source, const std::string& target) const;

  std::string dir_;
  uint64_t budget_ = 0;
  uint64_t used_ = 0;
  uint64_t held_ = 0;
};

// What tells a file version already taken from one written again (checkpoints are replaced
// or rewritten, which moves the mtime).
struct FileIdentity {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

// kNotFound when absent, kInvalidArgument when not a regular file.
Result<FileIdentity> identify_file(const std::string& path);

}  // namespace shoal
