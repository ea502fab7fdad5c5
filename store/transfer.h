// Whole-file uploads on top of ObjectStore, the one multipart engine of shoal (`shoal put` and
// the writer both upload through it): one PUT for small files, a multipart upload with parts
// in parallel for large ones. Every body is read and checksummed (Content-MD5 where the store
// wants it, CRC-64 always) on a worker of a BlockingPool, never on the loop; each part's CRC-64
// is checked against the store's where the store reports one, and the assembled object's
// against the combination of the parts'.
//
// A caller that must survive a crash (the writer) passes a MultipartJournal: the engine tells
// it of a fresh upload (and waits until that is durable before sending a part) and of every
// part acknowledged, and the next attempt passes back what was recorded as a MultipartResume.
// Without a journal a failed multipart upload is aborted (best effort); with one it is left in
// place for the next attempt.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "common/blocking_pool.h"
#include "store/blocking_store.h"
#include "store/object_store.h"

namespace shoal {

struct UploadOptions {
  uint64_t multipart_threshold = 64ull << 20;  // files at least this large go multipart
  uint64_t part_size = 0;                      // 0: chosen from the file size
  int parallel_parts = 4;
  // Called on the loop after each finished part (or the single PUT): bytes done, total.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

// The part size for a file: the smallest of 8 MiB, 16 MiB, 32 MiB, … that keeps the part
// count within the store's limit, clamped to its minimum and maximum part sizes.
uint64_t choose_part_size(uint64_t file_size, const Capabilities& caps);

// The part size an upload of `size` bytes with these options uses: options.part_size (or
// choose_part_size when 0), clamped to the store's limits.
uint64_t upload_part_size(const UploadOptions& options, uint64_t size, const Capabilities& caps);

// CRC-64/ECMA of [offset, offset+length) of a local file. Blocking.
Result<uint64_t> file_crc64(const std::string& path, uint64_t offset, uint64_t length);

// Where a resumable upload records its progress. Called on the loop.
class MultipartJournal {
 public:
  virtual ~MultipartJournal() = default;
  // A fresh multipart upload was created. No part is sent until `durable` is called; an error
  // passed to it fails the attempt.
  virtual void started(const std::string& multipart_id, uint64_t part_size,
                       std::function<void(Status)> durable) = 0;
  // A part was acknowledged and checked: number, etag, size and crc64 are set.
  virtual void part_uploaded(const PartInfo& part) = 0;
};

// What an earlier attempt recorded. The parts the store still lists with the same ETag and
// size are kept; the rest are sent again. A store that cannot list parts (or forgot the
// upload) has the old upload aborted and a fresh one started.
struct MultipartResume {
  std::string multipart_id;
  uint64_t part_size = 0;
  std::map<int, PartInfo> parts;  // by part number; crc64 set
};

struct FileUpload {
  std::string path;  // the local file
  uint64_t size = 0;  // its size; the upload reads exactly these bytes
  std::string key;
  MultipartJournal* journal = nullptr;  // outlives the upload; null: not resumable
  std::optional<MultipartResume> resume;  // multipart even below the threshold
};

// Uploads `file.path` to `file.key`. done (on the loop) receives the store's reply, its crc64
// set to the object's CRC-64, once the object is complete and checked; an error names the part
// that failed. `workers` runs on the loop `store` runs on and outlives the upload.
void upload(ObjectStore& store, BlockingPool& workers, FileUpload file, UploadOptions options,
            Done<PutReply> done);

// `shoal put`: stats `path` (on a worker), then upload() without a journal.
void upload_file(ObjectStore& store, BlockingPool& workers, std::string path, std::string key,
                 UploadOptions options, Done<PutReply> done);

// upload_file() run to completion on a BlockingStore's loop, for tools (`shoal put`, `shoal
// index build -o URI`): options.parallel_parts worker threads read and checksum the parts.
Result<PutReply> upload_file_and_wait(BlockingStore& store, std::string path, std::string key,
                                      UploadOptions options);

}  // namespace shoal
