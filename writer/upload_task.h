// One attempt at uploading one spooled file through the store's upload engine
// (store/transfer.h), with the multipart upload journaled: its creation is durable before any
// part is sent and every acknowledged part is recorded, so the next attempt (in this process
// or after a restart) resumes it from the journal's record. A failed attempt leaves the
// multipart upload in place for the next one.
#pragma once

#include <cstdint>
#include <functional>

#include "common/blocking_pool.h"
#include "store/object_store.h"
#include "store/transfer.h"
#include "writer/journal.h"

namespace shoal {

// Appends journal records and group-commits them on the loop.
class JournalLink {
 public:
  JournalLink(Journal& journal, JournalCommitter& committer)
      : journal_(journal), committer_(committer) {}
  // Appends `record` and requests a commit; on_durable (may be empty) learns the outcome.
  // An append the journal refuses is reported through on_durable too.
  void record(const JournalRecord& record, std::function<void(Status)> on_durable);
  Journal& journal() { return journal_; }

 private:
  Journal& journal_;
  JournalCommitter& committer_;
};

// Uploads `state.taken.spool_path` to `state.taken.key`; resumes state.multipart if set.
// done receives the store's reply (etag, crc64) once the object is complete and checked.
void run_upload(ObjectStore& store, BlockingPool& workers, JournalLink& journal,
                const UploadOptions& options, const UploadState& state, Done<PutReply> done);

}  // namespace shoal
