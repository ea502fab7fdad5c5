// The NBD wire protocol as far as shoal speaks it: fixed newstyle handshake, option haggling
// with INFO/GO/LIST/ABORT/EXPORT_NAME, simple replies. Values from the protocol specification
// (NetworkBlockDevice/nbd, doc/proto.md). Everything on the wire is big-endian.
#pragma once

#include <cstdint>
#include <vector>

namespace shoal::nbd {

// Handshake.
inline constexpr uint64_t kInitPasswd = 0x4e42444d41474943ull;   // "NBDMAGIC"
inline constexpr uint64_t kOptionMagic = 0x49484156454f5054ull;  // "IHAVEOPT"
inline constexpr uint64_t kOptionReplyMagic = 0x0003e889045565a9ull;
inline constexpr uint16_t kFlagFixedNewstyle = 1u << 0;
inline constexpr uint16_t kFlagNoZeroes = 1u << 1;
inline constexpr uint32_t kClientFlagFixedNewstyle = 1u << 0;
inline constexpr uint32_t kClientFlagNoZeroes = 1u << 1;
inline constexpr size_t kExportNameZeroes = 124;

// Options.
inline constexpr uint32_t kOptExportName = 1;
inline constexpr uint32_t kOptAbort = 2;
inline constexpr uint32_t kOptList = 3;
inline constexpr uint32_t kOptInfo = 6;
inline constexpr uint32_t kOptGo = 7;

// Option replies; errors have bit 31 set.
inline constexpr uint32_t kRepAck = 1;
inline constexpr uint32_t kRepServer = 2;
inline constexpr uint32_t kRepInfo = 3;
inline constexpr uint32_t kRepErrUnsup = 0x80000001u;
inline constexpr uint32_t kRepErrInvalid = 0x80000003u;
inline constexpr uint32_t kRepErrUnknown = 0x80000006u;
inline constexpr uint32_t kRepErrTooBig = 0x80000009u;

// NBD_REP_INFO payload types.
inline constexpr uint16_t kInfoExport = 0;
inline constexpr uint16_t kInfoName = 1;
inline constexpr uint16_t kInfoBlockSize = 3;

// Transmission flags.
inline constexpr uint16_t kFlagHasFlags = 1u << 0;
inline constexpr uint16_t kFlagReadOnly = 1u << 1;
inline constexpr uint16_t kFlagSendFlush = 1u << 2;
inline constexpr uint16_t kFlagCanMultiConn = 1u << 8;

// Transmission.
inline constexpr uint32_t kRequestMagic = 0x25609513u;
inline constexpr uint32_t kSimpleReplyMagic = 0x67446698u;
inline constexpr size_t kRequestSize = 28;
inline constexpr size_t kSimpleReplySize = 16;
inline constexpr uint16_t kCmdFlagFua = 1u << 0;
inline constexpr uint16_t kCmdRead = 0;
inline constexpr uint16_t kCmdWrite = 1;
inline constexpr uint16_t kCmdDisc = 2;
inline constexpr uint16_t kCmdFlush = 3;
inline constexpr uint16_t kCmdTrim = 4;
inline constexpr uint16_t kCmdWriteZeroes = 6;

// Error values of the reply (the spec fixes them; they happen to equal Linux errno values).
inline constexpr uint32_t kEperm = 1;
inline constexpr uint32_t kEio = 5;
inline constexpr uint32_t kEinval = 22;

inline uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t load_be32(const uint8_t* p) {
  return uint32_t{load_be16(p)} << 16 | load_be16(p + 2);
}
inline uint64_t load_be64(const uint8_t* p) {
  return uint64_t{load_be32(p)} << 32 | load_be32(p + 4);
}

inline void append_be16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
inline void append_be32(std::vector<uint8_t>& out, uint32_t v) {
  append_be16(out, static_cast<uint16_t>(v >> 16));
  append_be16(out, static_cast<uint16_t>(v));
}
inline void append_be64(std::vector<uint8_t>& out, uint64_t v) {
  append_be32(out, static_cast<uint32_t>(v >> 32));
  append_be32(out, static_cast<uint32_t>(v));
}

}  // namespace shoal::nbd
