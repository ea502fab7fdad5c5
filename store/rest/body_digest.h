// Checksums of an upload body, computed before it is sent: Content-MD5 for S3, the CRC-64
// that OSS echoes back. A file body is read in chunks, never held whole.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "store/object_store.h"

namespace shoal {

Result<std::string> body_content_md5(const Body& body);  // base64 of the raw MD5
Result<uint64_t> body_crc64(const Body& body);           // CRC-64/ECMA as OSS reports it
// Fills body.content_md5 and/or body.crc64, as asked, in one pass over the bytes. Blocking:
// callers on an event loop run it on a worker (common/blocking_pool.h).
Status add_upload_digests(Body& body, bool md5, bool crc64);

}  // namespace shoal
