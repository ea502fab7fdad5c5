// The on-disk structures against the kernel's fs/erofs/erofs_fs.h (Linux 6.18): sizes and
// field offsets as that header lays them out, and the super block checksum against one that
// mkfs.erofs (erofs-utils 1.5) computed.
#include "index/erofs/format.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::index::erofs {
namespace {

TEST(ErofsFormat, ConstantsMatchTheKernelHeader) {
  EXPECT_EQ(kMagic, 0xE0F5E1E2u);           // EROFS_SUPER_MAGIC_V1
  EXPECT_EQ(kSuperBlockOffset, 1024u);      // EROFS_SUPER_OFFSET
  EXPECT_EQ(kBlockSize, 4096u);
  EXPECT_EQ(kMaxNameLength, 255u);          // EROFS_NAME_LEN
  EXPECT_EQ(kFeatureCompatSuperBlockChecksum, 0x1u);  // EROFS_FEATURE_COMPAT_SB_CHKSUM
  EXPECT_EQ(kNullAddress, 0xFFFFFFFFu);     // EROFS_NULL_ADDR as a 32-bit address
  EXPECT_EQ(kFileTypeRegular, 1);           // FT_REG_FILE
  EXPECT_EQ(kFileTypeDirectory, 2);         // FT_DIR
  // i_format: EROFS_I_VERSION_BIT 0, EROFS_I_DATALAYOUT_BIT 1, EROFS_INODE_FLAT_PLAIN 0.
  EXPECT_EQ(inode_format(kInodeLayoutCompact, kDataLayoutFlatPlain), 0);
  EXPECT_EQ(inode_format(kInodeLayoutExtended, kDataLayoutFlatPlain), 1);
  EXPECT_EQ(inode_format(kInodeLayoutExtended, 2 /* FLAT_INLINE */), 5);
}

TEST(ErofsFormat, SuperBlockLayout) {
  EXPECT_EQ(sizeof(SuperBlock), 128u);  // 144 with the (unused) first extension slot
  EXPECT_EQ(offsetof(SuperBlock, magic), 0u);
  EXPECT_EQ(offsetof(SuperBlock, checksum), 4u);
  EXPECT_EQ(offsetof(SuperBlock, feature_compat), 8u);
  EXPECT_EQ(offsetof(SuperBlock, blkszbits), 12u);
  EXPECT_EQ(offsetof(SuperBlock, sb_extslots), 13u);
  EXPECT_EQ(offsetof(SuperBlock, root_nid), 14u);
  EXPECT_EQ(offsetof(SuperBlock, inos), 16u);
  EXPECT_EQ(offsetof(SuperBlock, epoch), 24u);
  EXPECT_EQ(offsetof(SuperBlock, fixed_nsec), 32u);
  EXPECT_EQ(offsetof(SuperBlock, blocks), 36u);
  EXPECT_EQ(offsetof(SuperBlock, meta_blkaddr), 40u);
  EXPECT_EQ(offsetof(SuperBlock, xattr_blkaddr), 44u);
  EXPECT_EQ(offsetof(SuperBlock, uuid), 48u);
  EXPECT_EQ(offsetof(SuperBlock, volume_name), 64u);
  EXPECT_EQ(offsetof(SuperBlock, feature_incompat), 80u);
  EXPECT_EQ(offsetof(SuperBlock, available_compr_algs), 84u);
  EXPECT_EQ(offsetof(SuperBlock, extra_devices), 86u);
  EXPECT_EQ(offsetof(SuperBlock, devt_slotoff), 88u);
  EXPECT_EQ(offsetof(SuperBlock, dirblkbits), 90u);
  EXPECT_EQ(offsetof(SuperBlock, xattr_prefix_count), 91u);
  EXPECT_EQ(offsetof(SuperBlock, xattr_prefix_start), 92u);
  EXPECT_EQ(offsetof(SuperBlock, packed_nid), 96u);
  EXPECT_EQ(offsetof(SuperBlock, xattr_filter_reserved), 104u);
  EXPECT_EQ(offsetof(SuperBlock, build_time), 108u);
  EXPECT_EQ(offsetof(SuperBlock, rootnid_8b), 112u);
  EXPECT_EQ(offsetof(SuperBlock, reserved2), 120u);
}

TEST(ErofsFormat, CompactInodeLayout) {
  EXPECT_EQ(sizeof(CompactInode), 32u);
  EXPECT_EQ(offsetof(CompactInode, i_format), 0u);
  EXPECT_EQ(offsetof(CompactInode, i_xattr_icount), 2u);
  EXPECT_EQ(offsetof(CompactInode, i_mode), 4u);
  EXPECT_EQ(offsetof(CompactInode, i_nlink), 6u);
  EXPECT_EQ(offsetof(CompactInode, i_size), 8u);
  EXPECT_EQ(offsetof(CompactInode, i_mtime), 12u);
  EXPECT_EQ(offsetof(CompactInode, i_startblk_lo), 16u);
  EXPECT_EQ(offsetof(CompactInode, i_ino), 20u);
  EXPECT_EQ(offsetof(CompactInode, i_uid), 24u);
  EXPECT_EQ(offsetof(CompactInode, i_gid), 26u);
  EXPECT_EQ(offsetof(CompactInode, i_reserved), 28u);
}

TEST(ErofsFormat, ExtendedInodeLayout) {
  EXPECT_EQ(sizeof(ExtendedInode), 64u);
  EXPECT_EQ(offsetof(ExtendedInode, i_format), 0u);
  EXPECT_EQ(offsetof(ExtendedInode, i_xattr_icount), 2u);
  EXPECT_EQ(offsetof(ExtendedInode, i_mode), 4u);
  EXPECT_EQ(offsetof(ExtendedInode, i_startblk_hi), 6u);
  EXPECT_EQ(offsetof(ExtendedInode, i_size), 8u);
  EXPECT_EQ(offsetof(ExtendedInode, i_startblk_lo), 16u);
  EXPECT_EQ(offsetof(ExtendedInode, i_ino), 20u);
  EXPECT_EQ(offsetof(ExtendedInode, i_uid), 24u);
  EXPECT_EQ(offsetof(ExtendedInode, i_gid), 28u);
  EXPECT_EQ(offsetof(ExtendedInode, i_mtime), 32u);
  EXPECT_EQ(offsetof(ExtendedInode, i_mtime_nsec), 40u);
  EXPECT_EQ(offsetof(ExtendedInode, i_nlink), 44u);
  EXPECT_EQ(offsetof(ExtendedInode, i_reserved2), 48u);
}

TEST(ErofsFormat, DirentLayout) {
  EXPECT_EQ(sizeof(Dirent), 12u);
  EXPECT_EQ(offsetof(Dirent, nid), 0u);
  EXPECT_EQ(offsetof(Dirent, nameoff), 8u);
  EXPECT_EQ(offsetof(Dirent, file_type), 10u);
  EXPECT_EQ(offsetof(Dirent, reserved), 11u);
}

std::vector<uint8_t> bytes_of(std::string_view text) { return {text.begin(), text.end()}; }

TEST(ErofsFormat, Crc32cIsTheKernelsRawRegisterUpdate) {
  // The standard CRC-32C check value of "123456789" is 0xE3069283 (init ~0, final inversion);
  // the kernel's crc32c(~0, ...) omits the final inversion.
  EXPECT_EQ(~crc32c(~0u, bytes_of("123456789")), 0xE3069283u);
  EXPECT_EQ(crc32c(~0u, bytes_of("123456789")), 0x1CF96D7Cu);
  EXPECT_EQ(crc32c(~0u, {}), ~0u);
  // Incremental updates compose.
  EXPECT_EQ(crc32c(crc32c(~0u, bytes_of("1234")), bytes_of("56789")), 0x1CF96D7Cu);
}

std::vector<uint8_t> from_hex(std::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// Bytes 1024..1664 of block 0 of an image made by `mkfs.erofs -Enoinline_data` (erofs-utils
// 1.5) from a tiny tree; the rest of block 0 is zero. Its super block stores checksum
// 0x48B9E447, computed by erofs-utils, an implementation independent of ours.
constexpr std::string_view kMkfsBlockZeroTail =
    "e2e1f5e047e4b948030000000c0024000500000000000000b806076b00000000c07f020002000000"
    "0000000000000000200c0867385948758c728306b0db323300000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000005000000ed4100004c00000000000000ffffffff000000000000000000000000"
    "b806076b000000002e367a0904000000000000000000000000000000000000002400000000000000"
    "3c00020024000000000000003d00020029000000000000003f0001002b0000000000000044000200"
    "2e00000000000000490002002e2e2e612e747874656d707479737562000000000000000000000000"
    "000000000000000001000000a4810000060000000000000001000000010000000000000000000000"
    "b806076b000000002e367a09010000000000000000000000000000000000000005000000ed410000"
    "1b00000000000000ffffffff020000000000000000000000b806076b000000002e367a0902000000"
    "000000000000000000000000000000002b0000000000000018000200240000000000000019000200"
    "2e2e2e000000000005000000ed4100002800000000000000ffffffff030000000000000000000000"
    "b806076b000000002e367a0902000000000000000000000000000000000000002e00000000000000"
    "240002002400000000000000250002003200000000000000270001002e2e2e650000000000000000"
    "0000000000000000000000000000000001000000a481000000000000000000000000000004000000"
    "0000000000000000b806076b000000002e367a090100000000000000000000000000000000000000";

TEST(ErofsFormat, SuperBlockChecksumMatchesMkfsErofs) {
  std::array<uint8_t, kBlockSize> block{};
  std::vector<uint8_t> tail = from_hex(kMkfsBlockZeroTail);
  ASSERT_EQ(tail.size(), 640u);
  std::copy(tail.begin(), tail.end(), block.begin() + kSuperBlockOffset);
  SuperBlock sb;
  std::memcpy(&sb, block.data() + kSuperBlockOffset, sizeof(sb));
  ASSERT_EQ(sb.magic, kMagic);
  ASSERT_EQ(sb.checksum, 0x48B9E447u);
  EXPECT_EQ(super_block_checksum(block), 0x48B9E447u);
  // The field under the checksum is hashed as zero, whatever it holds.
  block[kSuperBlockOffset + offsetof(SuperBlock, checksum)] ^= 0xFF;
  EXPECT_EQ(super_block_checksum(block), 0x48B9E447u);
  // Every other byte of the block from 1024 on is covered; bytes before 1024 are not.
  block[kBlockSize - 1] ^= 1;
  EXPECT_NE(super_block_checksum(block), 0x48B9E447u);
  block[kBlockSize - 1] ^= 1;
  block[0] ^= 1;
  EXPECT_EQ(super_block_checksum(block), 0x48B9E447u);
}

}  // namespace
}  // namespace shoal::index::erofs
