// CRC-64/XZ: the ECMA-182 polynomial, reflected (0xC96C5795D7870F42), init and final xor all
// ones. OSS reports it in x-oss-hash-crc64ecma as a decimal uint64.
#pragma once

#include <cstdint>
#include <string_view>

namespace shoal {

// Extends `crc`, the CRC of the bytes before `data` (0 for none), over `data`; like zlib's
// crc32(), so crc64_update(crc64_update(0, a), b) == crc64(a + b).
uint64_t crc64_update(uint64_t crc, std::string_view data);

inline uint64_t crc64(std::string_view data) { return crc64_update(0, data); }

// The CRC of A followed by B from crc1 = crc64(A), crc2 = crc64(B) and len2 = |B|, without
// the bytes: how the CRC of a multipart object follows from the CRCs of its parts.
uint64_t crc64_combine(uint64_t crc1, uint64_t crc2, uint64_t len2);

}  // namespace shoal
