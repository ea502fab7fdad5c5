// The vhost-user wire format (QEMU docs/interop/vhost-user.rst): message numbers, flags and
// payload layouts, little-endian as on every host QEMU runs vhost-user on.
#pragma once

#include <cstdint>

namespace shoal::vhost {

// Front-end requests this back end knows.
enum Request : uint32_t {
  kGetFeatures = 1,
  kSetFeatures = 2,
  kSetOwner = 3,
  kResetOwner = 4,
  kSetMemTable = 5,
  kSetVringNum = 8,
  kSetVringAddr = 9,
  kSetVringBase = 10,
  kGetVringBase = 11,
  kSetVringKick = 12,
  kSetVringCall = 13,
  kSetVringErr = 14,
  kGetProtocolFeatures = 15,
  kSetProtocolFeatures = 16,
  kGetQueueNum = 17,
  kSetVringEnable = 18,
  kGetConfig = 24,
  kSetConfig = 25,
};

constexpr uint32_t kVersion = 0x1;
constexpr uint32_t kVersionMask = 0x3;
constexpr uint32_t kFlagReply = 1u << 2;
constexpr uint32_t kFlagNeedReply = 1u << 3;

// Virtio feature bits a vhost-user-blk back end deals in.
constexpr uint64_t kFeatureProtocolFeatures = 1ull << 30;  // VHOST_USER_F_PROTOCOL_FEATURES
constexpr uint64_t kFeatureVersion1 = 1ull << 32;          // VIRTIO_F_VERSION_1
constexpr uint64_t kFeatureIndirectDesc = 1ull << 28;      // VIRTIO_RING_F_INDIRECT_DESC
constexpr uint64_t kFeatureEventIdx = 1ull << 29;          // VIRTIO_RING_F_EVENT_IDX
constexpr uint64_t kFeatureBlkSegMax = 1ull << 2;          // VIRTIO_BLK_F_SEG_MAX
constexpr uint64_t kFeatureBlkRo = 1ull << 5;              // VIRTIO_BLK_F_RO
constexpr uint64_t kFeatureBlkBlkSize = 1ull << 6;         // VIRTIO_BLK_F_BLK_SIZE
constexpr uint64_t kFeatureBlkMq = 1ull << 12;             // VIRTIO_BLK_F_MQ

// Protocol feature bits.
constexpr uint64_t kProtocolMq = 1ull << 0;
constexpr uint64_t kProtocolReplyAck = 1ull << 3;
constexpr uint64_t kProtocolConfig = 1ull << 9;

// SET_VRING_KICK / CALL / ERR payload: bits 0-7 the ring, bit 8 "no file descriptor".
constexpr uint64_t kVringIndexMask = 0xff;
constexpr uint64_t kVringNoFd = 1ull << 8;

constexpr uint32_t kMaxConfigBytes = 256;

#pragma pack(push, 1)
struct Header {
  uint32_t request;
  uint32_t flags;
  uint32_t size;  // payload bytes that follow
};
struct VringState {
  uint32_t index;
  uint32_t num;
};
struct VringAddr {
  uint32_t index;
  uint32_t flags;
  uint64_t descriptor;
  uint64_t used;
  uint64_t available;
  uint64_t log;
};
struct MemoryRegion {
  uint64_t guest_phys_addr;
  uint64_t memory_size;
  uint64_t userspace_addr;
  uint64_t mmap_offset;
};
struct MemoryHeader {
  uint32_t nregions;
  uint32_t padding;
};
struct ConfigHeader {
  uint32_t offset;
  uint32_t size;
  uint32_t flags;
};
#pragma pack(pop)

}  // namespace shoal::vhost
