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

}  // namespace shoal
