// EROFS on-disk structures: our own definitions of the subset shoal writes, laid out exactly as
// the kernel's fs/erofs/erofs_fs.h (Linux 6.18) and Documentation/filesystems/erofs.rst define
// them. All multi-byte fields are little-endian; the packed structs are written to disk as they
// are, which is why the host must be little-endian (checked below).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

namespace shoal::index::erofs {

static_assert(std::endian::native == std::endian::little,
              "the EROFS structures are written verbatim and EROFS is little-endian");

inline constexpr uint32_t kMagic = 0xE0F5E1E2;
// Leaves room for x86 boot sectors: the super block always starts at byte 1024.
inline constexpr uint64_t kSuperBlockOffset = 1024;
inline constexpr uint8_t kBlockSizeBits = 12;
inline constexpr uint32_t kBlockSize = 1u << kBlockSizeBits;
// Without the 48-bit feature, block addresses and the block count are 32-bit; 0xFFFFFFFF is
// EROFS_NULL_ADDR (a hole), so the largest usable device has 2^32 - 1 blocks (16 TiB).
inline constexpr uint64_t kMaxDeviceBlocks = 0xFFFFFFFFull;
inline constexpr uint32_t kNullAddress = 0xFFFFFFFFu;
inline constexpr size_t kMaxNameLength = 255;  // EROFS_NAME_LEN

// feature_compat bits.
inline constexpr uint32_t kFeatureCompatSuperBlockChecksum = 0x00000001;

// An inode's nid is its byte offset from the start of the metadata area in 32-byte slots.
inline constexpr uint32_t kInodeSlotSize = 32;

// i_format: bit 0 is the inode version (layout), bits 1-3 the data layout.
inline constexpr uint16_t kInodeLayoutCompact = 0;
inline constexpr uint16_t kInodeLayoutExtended = 1;
inline constexpr uint16_t kDataLayoutFlatPlain = 0;  // EROFS_INODE_FLAT_PLAIN
inline constexpr unsigned kInodeVersionBit = 0;
inline constexpr unsigned kInodeDataLayoutBit = 1;

constexpr uint16_t inode_format(uint16_t layout, uint16_t data_layout) {
  return static_cast<uint16_t>(layout << kInodeVersionBit | data_layout << kInodeDataLayoutBit);
}

// erofs_dirent.file_type: the generic FT_* values.
inline constexpr uint8_t kFileTypeRegular = 1;
inline constexpr uint8_t kFileTypeDirectory = 2;

// POSIX mode type bits as stored in i_mode.
inline constexpr uint16_t kModeTypeMask = 0170000;
inline constexpr uint16_t kModeDirectory = 0040000;
inline constexpr uint16_t kModeRegular = 0100000;

// struct erofs_super_block with sb_extslots == 0 (128 bytes). Newer kernels extend it by
// 16-byte slots (metabox_nid, ...); shoal writes no extension slots.
struct __attribute__((packed)) SuperBlock {
  uint32_t magic;
  uint32_t checksum;         // crc32c of the super block's block from byte 1024 on
  uint32_t feature_compat;
  uint8_t blkszbits;
  uint8_t sb_extslots;
  uint16_t root_nid;         // rb.rootnid_2b: the root nid must fit 16 bits without 48BIT
  uint64_t inos;             // number of inodes
  uint64_t epoch;            // mtime of compact inodes (older kernels: build_time)
  uint32_t fixed_nsec;       // nanoseconds of that mtime
  uint32_t blocks;           // blocks_lo: device size in blocks, used by statfs
  uint32_t meta_blkaddr;     // block where nid 0 starts
  uint32_t xattr_blkaddr;
  uint8_t uuid[16];
  uint8_t volume_name[16];
  uint32_t feature_incompat;
  uint16_t available_compr_algs;
  uint16_t extra_devices;
  uint16_t devt_slotoff;
  uint8_t dirblkbits;        // 0: directory blocks are file system blocks
  uint8_t xattr_prefix_count;
  uint32_t xattr_prefix_start;
  uint64_t packed_nid;
  uint8_t xattr_filter_reserved;
  uint8_t reserved[3];
  uint32_t build_time;       // seconds after epoch of the mkfs run (informational)
  uint64_t rootnid_8b;       // only with 48BIT
  uint64_t reserved2;
};
static_assert(sizeof(SuperBlock) == 128);
static_assert(offsetof(SuperBlock, checksum) == 4);
static_assert(offsetof(SuperBlock, blkszbits) == 12);
static_assert(offsetof(SuperBlock, root_nid) == 14);
static_assert(offsetof(SuperBlock, inos) == 16);
static_assert(offsetof(SuperBlock, epoch) == 24);
static_assert(offsetof(SuperBlock, blocks) == 36);
static_assert(offsetof(SuperBlock, meta_blkaddr) == 40);
static_assert(offsetof(SuperBlock, uuid) == 48);
static_assert(offsetof(SuperBlock, volume_name) == 64);
static_assert(offsetof(SuperBlock, feature_incompat) == 80);
static_assert(offsetof(SuperBlock, dirblkbits) == 90);
static_assert(offsetof(SuperBlock, packed_nid) == 96);
static_assert(offsetof(SuperBlock, build_time) == 108);
static_assert(offsetof(SuperBlock, rootnid_8b) == 112);

// struct erofs_inode_compact (32 bytes): sizes below 4 GiB, nlink below 65536, no own mtime.
struct __attribute__((packed)) CompactInode {
  uint16_t i_format;
  uint16_t i_xattr_icount;
  uint16_t i_mode;
  uint16_t i_nlink;          // i_nb.nlink (EROFS_I_NLINK_1_BIT unset)
  uint32_t i_size;
  uint32_t i_mtime;          // seconds after the super block's epoch
  uint32_t i_startblk_lo;    // i_u.startblk_lo: first block of flat data
  uint32_t i_ino;            // only for 32-bit stat
  uint16_t i_uid;
  uint16_t i_gid;
  uint32_t i_reserved;
};
static_assert(sizeof(CompactInode) == 32);
static_assert(offsetof(CompactInode, i_mode) == 4);
static_assert(offsetof(CompactInode, i_nlink) == 6);
static_assert(offsetof(CompactInode, i_size) == 8);
static_assert(offsetof(CompactInode, i_mtime) == 12);
static_assert(offsetof(CompactInode, i_startblk_lo) == 16);
static_assert(offsetof(CompactInode, i_ino) == 20);
static_assert(offsetof(CompactInode, i_uid) == 24);
static_assert(offsetof(CompactInode, i_gid) == 26);

// struct erofs_inode_extended (64 bytes): 64-bit size, 32-bit nlink/uid/gid, its own mtime.
struct __attribute__((packed)) ExtendedInode {
  uint16_t i_format;
  uint16_t i_xattr_icount;
  uint16_t i_mode;
  uint16_t i_startblk_hi;    // i_nb.startblk_hi: only with 48BIT, zero here
  uint64_t i_size;
  uint32_t i_startblk_lo;
  uint32_t i_ino;
  uint32_t i_uid;
  uint32_t i_gid;
  uint64_t i_mtime;
  uint32_t i_mtime_nsec;
  uint32_t i_nlink;
  uint8_t i_reserved2[16];
};
static_assert(sizeof(ExtendedInode) == 64);
static_assert(offsetof(ExtendedInode, i_size) == 8);
static_assert(offsetof(ExtendedInode, i_startblk_lo) == 16);
static_assert(offsetof(ExtendedInode, i_ino) == 20);
static_assert(offsetof(ExtendedInode, i_uid) == 24);
static_assert(offsetof(ExtendedInode, i_gid) == 28);
static_assert(offsetof(ExtendedInode, i_mtime) == 32);
static_assert(offsetof(ExtendedInode, i_mtime_nsec) == 40);
static_assert(offsetof(ExtendedInode, i_nlink) == 44);

// struct erofs_dirent (12 bytes). A directory block is an array of dirents followed by their
// names (not NUL-terminated); the first dirent's nameoff is therefore 12 * entries-in-block,
// and the last name ends at the first NUL or at the end of the block / directory.
struct __attribute__((packed)) Dirent {
  uint64_t nid;
  uint16_t nameoff;          // byte offset of the name inside the directory block
  uint8_t file_type;
  uint8_t reserved;
};
static_assert(sizeof(Dirent) == 12);
static_assert(offsetof(Dirent, nameoff) == 8);
static_assert(offsetof(Dirent, file_type) == 10);

// CRC-32C (Castagnoli) register update as the kernel's crc32c(seed, data, len) computes it: no
// implicit inversion at the start or the end. The standard CRC-32C is ~crc32c(~0u, data).
uint32_t crc32c(uint32_t crc, std::span<const uint8_t> data);

// The super block checksum for a file system whose first block is `first_block`:
// crc32c(~0, bytes [1024, kBlockSize) with the checksum field zeroed), as the kernel verifies
// it when EROFS_FEATURE_COMPAT_SB_CHKSUM is set.
uint32_t super_block_checksum(std::span<const uint8_t, kBlockSize> first_block);

}  // namespace shoal::index::erofs
