// One attempt at uploading one spooled file: a single PUT for small files, a multipart upload
// for large ones whose every step is journaled, so that the next attempt (in this process or
// after a restart) resumes it: the parts the store still lists (ListParts) are kept, and where
// the store cannot list them the old upload is aborted (best effort) and a fresh one started.
// A failed attempt leaves the multipart upload in place for the next one. Every body is read
// and checksummed (Content-MD5, CRC-64) on a worker, never on the loop.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "common/blocking_pool.h"
#include "common/reactor.h"
#include "store/object_store.h"
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

struct UploadSettings {
  uint64_t multipart_threshold = 64ull << 20;
  uint64_t part_size = 0;  // 0: chosen from the file size
  int parallel_parts = 4;
};

// The part size an upload of `size` bytes uses.
uint64_t upload_part_size(const UploadSettings& settings, uint64_t size, const Capabilities& caps);

// Uploads `state.taken.spool_path` to `state.taken.key`; resumes state.multipart if set.
// done receives the store's reply (etag, crc64) once the object is complete and checked.
void run_upload(ObjectStore& store, BlockingPool& workers, JournalLink& journal,
                const UploadSettings& settings, const UploadState& state, Done<PutReply> done);

}  // namespace shoal
