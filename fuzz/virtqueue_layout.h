// The guest the virtqueue target pretends to be, shared with the seed generator: two adjacent
// memory regions (so buffers may cross from one to the other) and a header that places the
// rings. Everything else in guest memory is the input's bytes.
//
//   input = [log2 size u8][features u8][next available u16]
//           [descriptors u16][available u16][used u16]  offsets from the start of memory
//           [guest memory …]
#pragma once

#include <cstddef>
#include <cstdint>

namespace shoal::fuzz::virtqueue {

inline constexpr size_t kRegionBytes = 32 << 10;
inline constexpr size_t kMemoryBytes = 2 * kRegionBytes;
inline constexpr uint64_t kGuestPhys = 0x100000;       // region 0; region 1 follows it
inline constexpr uint64_t kUserAddr = 0x7f0000000000;  // where the "front end" maps them
inline constexpr size_t kHeaderBytes = 10;

inline constexpr uint8_t kFeatureEventIdx = 1;
inline constexpr uint8_t kFeatureIndirect = 2;

}  // namespace shoal::fuzz::virtqueue
