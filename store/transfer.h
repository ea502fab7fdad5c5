// Whole-file uploads on top of ObjectStore: one PUT for small files, a multipart upload with
// parts in parallel for large ones, the result checked end to end with CRC-64 where the store
// reports it (OSS, file://).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

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

// CRC-64/ECMA of [offset, offset+length) of a local file.
Result<uint64_t> file_crc64(const std::string& path, uint64_t offset, uint64_t length);

// Uploads `path` to `key`. On failure of a multipart upload the upload is aborted (best
// effort) and the error names the part that failed. `done` runs on the store's reactor.
// `reactor` is the loop `store` runs on.
void upload_file(ObjectStore& store, Reactor& reactor, std::string path, std::string key,
                 UploadOptions options, Done<PutReply> done);

}  // namespace shoal
