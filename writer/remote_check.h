// Does the store already hold exactly these bytes under this key? Asked before redoing an
// upload whose completion the journal never recorded (a crash between the store's answer and
// the journal commit), and before taking a file found by a rescan, so a completed upload is
// not repeated.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "store/object_store.h"

namespace shoal {

// Compares the object `key` with [0, size) of the local file `path`, by the strongest evidence
// the store offers: its CRC-64 (OSS); else an MD5 ETag (S3 PUT), or a multipart ETag
// (MD5 of the parts' MD5s, recomputed with `part_size`); else reading the object back
// (file://). An absent object or a different size is false.
// The ETag of the matching object, or nothing when the store does not hold these bytes.
using RemoteMatch = std::optional<std::string>;
void remote_matches(ObjectStore& store, std::string key, std::string path, uint64_t size,
                    uint64_t part_size, Done<RemoteMatch> done);

// MD5 of [offset, offset+length) of a local file, raw 16 bytes.
Result<std::string> file_md5(const std::string& path, uint64_t offset, uint64_t length);

}  // namespace shoal
