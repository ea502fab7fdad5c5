// ImageWriter: writes metadata for trees and reads it back with MetadataReader, checking the
// EROFS rules byte by byte (dirent blocks, "." and "..", inode choice, caps). The kernel and
// fsck.erofs check the same images in tests/integration/index/erofs_mount_test.cc.
#include "index/erofs/image_writer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "index/erofs/format.h"
#include "index/erofs/metadata_reader.h"

namespace shoal::index::erofs {
namespace {

constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kTiB = 1ull << 40;

struct Image {
  ImageWriter writer;
  uint32_t device_blocks;
  std::vector<uint8_t> metadata;
};

Image build(FileTree& tree, const ImageOptions& options = {}) {
  Status sealed = tree.seal();
  EXPECT_TRUE(sealed.ok()) << sealed.error().describe();
  Result<ImageWriter> writer = ImageWriter::plan(tree, options);
  EXPECT_TRUE(writer.ok()) << writer.error().describe();
  Result<uint32_t> end = assign_data_blocks_contiguously(tree, writer->metadata_blocks());
  EXPECT_TRUE(end.ok()) << end.error().describe();
  Result<std::vector<uint8_t>> metadata = writer->write_to_memory(tree);
  EXPECT_TRUE(metadata.ok()) << metadata.error().describe();
  EXPECT_EQ(metadata->size(), uint64_t{writer->metadata_blocks()} * kBlockSize);
  return Image{std::move(*writer), *end, std::move(*metadata)};
}

MetadataReader open_reader(const Image& image) {
  Result<MetadataReader> reader = MetadataReader::open(image.metadata);
  EXPECT_TRUE(reader.ok()) << reader.error().describe();
  return std::move(*reader);
}

std::vector<std::string> names_of(const std::vector<DirectoryEntry>& entries) {
  std::vector<std::string> names;
  for (const DirectoryEntry& e : entries) names.emplace_back(e.name);
  return names;
}

TEST(ErofsImageWriter, SmallTreeRoundTrips) {
  FileTree tree;
  NodeId docs = *tree.add_directory(kRootNode, "docs");
  NodeId readme = *tree.add_file(docs, "readme.txt", 5000);
  NodeId empty_file = *tree.add_file(kRootNode, "+empty", 0);
  NodeId empty_dir = *tree.add_directory(kRootNode, "empty dir");
  NodeId big = *tree.add_file(kRootNode, "a", 3);
  ImageOptions options;
  options.build_time = {1750000000, 42};
  options.volume_name = "shoal-test";
  Image image = build(tree, options);
  MetadataReader reader = open_reader(image);

  const SuperBlock& sb = reader.super_block();
  EXPECT_EQ(sb.magic, kMagic);
  EXPECT_EQ(sb.blkszbits, 12);
  EXPECT_EQ(sb.feature_compat, kFeatureCompatSuperBlockChecksum);
  EXPECT_EQ(sb.feature_incompat, 0u);
  EXPECT_EQ(sb.meta_blkaddr, 0u);
  EXPECT_EQ(sb.root_nid, 36);  // right after the 128-byte super block, as mkfs.erofs does
  EXPECT_EQ(sb.inos, 6u);
  EXPECT_EQ(sb.blocks, image.device_blocks);
  EXPECT_EQ(sb.epoch, 1750000000u);
  EXPECT_EQ(sb.fixed_nsec, 42u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(sb.volume_name)), "shoal-test");
  // Data follows metadata: "a" (1 block) then docs/readme.txt (2 blocks).
  EXPECT_EQ(image.device_blocks, image.writer.metadata_blocks() + 3);
  EXPECT_EQ(tree.data_block(big), image.writer.metadata_blocks());
  EXPECT_EQ(tree.data_block(readme), image.writer.metadata_blocks() + 1);

  InodeInfo root = *reader.inode(reader.root_nid());
  EXPECT_TRUE(root.is_directory());
  EXPECT_EQ(root.mode, 040755);
  EXPECT_EQ(root.nlink, 4u);  // ".", "..", docs/.., "empty dir"/..
  std::vector<DirectoryEntry> entries = *reader.list(root);
  // "+empty" sorts before "." (0x2b < 0x2e): "." and ".." sit at their sorted places.
  EXPECT_EQ(names_of(entries),
            (std::vector<std::string>{"+empty", ".", "..", "a", "docs", "empty dir"}));
  EXPECT_EQ(entries[1].nid, reader.root_nid());
  EXPECT_EQ(entries[2].nid, reader.root_nid());  // the root's parent is itself
  EXPECT_EQ(entries[1].file_type, kFileTypeDirectory);
  EXPECT_EQ(entries[0].file_type, kFileTypeRegular);
  EXPECT_EQ(entries[4].file_type, kFileTypeDirectory);

  InodeInfo docs_inode = *reader.lookup("/docs");
  EXPECT_EQ(docs_inode.nid, image.writer.nid(docs));
  std::vector<DirectoryEntry> docs_entries = *reader.list(docs_inode);
  ASSERT_EQ(names_of(docs_entries), (std::vector<std::string>{".", "..", "readme.txt"}));
  EXPECT_EQ(docs_entries[0].nid, docs_inode.nid);
  EXPECT_EQ(docs_entries[1].nid, reader.root_nid());

  InodeInfo file = *reader.lookup("docs/readme.txt");
  EXPECT_FALSE(file.extended);
  EXPECT_EQ(file.mode, 0100644);
  EXPECT_EQ(file.size, 5000u);
  EXPECT_EQ(file.nlink, 1u);
  EXPECT_EQ(file.start_block, tree.data_block(readme));
  EXPECT_EQ(file.mtime.seconds, 1750000000);

  InodeInfo empty = *reader.inode(image.writer.nid(empty_file));
  EXPECT_EQ(empty.size, 0u);
  EXPECT_EQ(empty.start_block, 0u);
  InodeInfo empty_directory = *reader.inode(image.writer.nid(empty_dir));
  EXPECT_EQ(names_of(*reader.list(empty_directory)), (std::vector<std::string>{".", ".."}));
  EXPECT_EQ(empty_directory.size, 2 * sizeof(Dirent) + 3);  // one partial block
  EXPECT_EQ(empty_directory.nlink, 2u);
  EXPECT_EQ(reader.lookup("/nope").error().kind, ErrorKind::kNotFound);
}

TEST(ErofsImageWriter, DotEntriesSortAmongNamesAroundThem) {
  FileTree tree;
  for (std::string_view name : {"-", ".-x", "...", ".a", ",", "~"}) {
    ASSERT_TRUE(tree.add_file(kRootNode, name, 0).ok());
  }
  Image image = build(tree);
  MetadataReader reader = open_reader(image);
  EXPECT_EQ(names_of(*reader.list(*reader.inode(reader.root_nid()))),
            (std::vector<std::string>{",", "-", ".", ".-x", "..", "...", ".a", "~"}));
}

TEST(ErofsImageWriter, SuperBlockChecksumCoversBlockZero) {
  FileTree tree;
  ASSERT_TRUE(tree.add_file(kRootNode, "f", 1).ok());
  Image image = build(tree);
  SuperBlock sb;
  std::memcpy(&sb, image.metadata.data() + kSuperBlockOffset, sizeof(sb));
  EXPECT_EQ(sb.checksum,
            super_block_checksum(std::span<const uint8_t, kBlockSize>(image.metadata.data(),
                                                                      kBlockSize)));
  image.metadata[kSuperBlockOffset + sizeof(SuperBlock)] ^= 1;  // the root inode, in block 0
  Result<MetadataReader> reader = MetadataReader::open(image.metadata);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.error().kind, ErrorKind::kCorrupt);
}

// Names of 200 bytes: 212 bytes per dirent, so 19 fit a block (4028 bytes) and the 20th does
// not; 1,000 entries plus "." and ".." span 53 blocks.
TEST(ErofsImageWriter, DirectorySplitsIntoSortedBlocks) {
  FileTree tree;
  NodeId dir = *tree.add_directory(kRootNode, "many");
  for (int i = 999; i >= 0; --i) {
    char prefix[8];
    std::snprintf(prefix, sizeof(prefix), "%04d", i);
    ASSERT_TRUE(tree.add_file(dir, std::string(prefix) + std::string(196, 'n'), 0).ok());
  }
  Image image = build(tree);
  MetadataReader reader = open_reader(image);
  InodeInfo inode = *reader.inode(image.writer.nid(dir));
  // Block 0: ".", ".." and 19 long names (13 + 14 + 19 * 212 = 4055; one more would pass
  // 4096). Then 981 names: 51 blocks of 19 and 12 in the last, which i_size ends exactly.
  uint64_t last_block_bytes = 12 * 212;
  EXPECT_EQ(inode.size, 52 * kBlockSize + last_block_bytes);

  uint64_t blocks = (inode.size + kBlockSize - 1) / kBlockSize;
  ASSERT_EQ(blocks, 53u);
  std::vector<size_t> per_block;
  for (uint64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = image.metadata.data() + (uint64_t{inode.start_block} + b) * kBlockSize;
    Dirent first;
    std::memcpy(&first, block, sizeof(first));
    EXPECT_EQ(first.nameoff % sizeof(Dirent), 0u);
    per_block.push_back(first.nameoff / sizeof(Dirent));
  }
  EXPECT_EQ(per_block.front(), 21u);
  for (size_t b = 1; b + 1 < per_block.size(); ++b) EXPECT_EQ(per_block[b], 19u) << b;
  EXPECT_EQ(per_block.back(), 12u);

  std::vector<DirectoryEntry> entries = *reader.list(inode);  // checks order across blocks
  ASSERT_EQ(entries.size(), 1002u);
  EXPECT_EQ(entries[0].name, ".");
  EXPECT_EQ(entries[1].name, "..");
  EXPECT_EQ(entries[2].name.substr(0, 4), "0000");
  EXPECT_EQ(entries.back().name.substr(0, 4), "0999");
  for (int i : {0, 18, 19, 20, 500, 998, 999}) {
    char prefix[8];
    std::snprintf(prefix, sizeof(prefix), "%04d", i);
    std::string path = "many/" + std::string(prefix) + std::string(196, 'n');
    Result<InodeInfo> found = reader.lookup(path);
    ASSERT_TRUE(found.ok()) << path;
  }
}

TEST(ErofsImageWriter, MillionEntryDirectory) {
  FileTree tree;
  NodeId dir = *tree.add_directory(kRootNode, "huge");
  constexpr int kEntries = 1'000'000;
  for (int i = 0; i < kEntries; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "f%07lld", (i * 7919LL) % kEntries);  // not in order
    ASSERT_TRUE(tree.add_file(dir, name, i % 3 == 0 ? 0 : 1).ok());
  }
  Image image = build(tree);
  MetadataReader reader = open_reader(image);
  InodeInfo inode = *reader.lookup("/huge");
  EXPECT_EQ(inode.nlink, 2u);
  Result<std::vector<DirectoryEntry>> entries = reader.list(inode);
  ASSERT_TRUE(entries.ok()) << entries.error().describe();
  ASSERT_EQ(entries->size(), kEntries + 2u);
  EXPECT_EQ((*entries)[2].name, "f0000000");
  EXPECT_EQ(entries->back().name, "f0999999");
  // 20 bytes per entry: block 0 holds "." (13), ".." (14) and 203 names, the others 204.
  EXPECT_EQ((inode.size + kBlockSize - 1) / kBlockSize, 1 + (kEntries - 203 + 203) / 204u);
  for (std::string_view name : {"f0000000", "f0000202", "f0000203", "f0543210", "f0999999"}) {
    Result<InodeInfo> found = reader.lookup("huge/" + std::string(name));
    ASSERT_TRUE(found.ok()) << name;
    EXPECT_EQ(found->nid, image.writer.nid(*tree.find_child(dir, name)));
  }
  EXPECT_EQ(reader.lookup("huge/f1000000").error().kind, ErrorKind::kNotFound);
}

TEST(ErofsImageWriter, ExtendedInodesOnlyWhereNeeded) {
  FileTree tree;
  NodeId small = *tree.add_file(kRootNode, "small", 100);
  NodeId edge = *tree.add_file(kRootNode, "edge", 4 * kGiB - 1);
  NodeId huge = *tree.add_file(kRootNode, "huge", 5 * kGiB);
  Image image = build(tree);
  MetadataReader reader = open_reader(image);
  EXPECT_FALSE(image.writer.has_extended_inode(small));
  EXPECT_FALSE(image.writer.has_extended_inode(edge));
  EXPECT_TRUE(image.writer.has_extended_inode(huge));
  InodeInfo inode = *reader.lookup("huge");
  EXPECT_TRUE(inode.extended);
  EXPECT_EQ(inode.size, 5 * kGiB);
  EXPECT_EQ(inode.nid % 2, 0u);  // 64-byte aligned: never straddles a block
  EXPECT_EQ(inode.start_block, tree.data_block(huge));
  EXPECT_EQ(reader.lookup("edge")->size, 4 * kGiB - 1);
}

TEST(ErofsImageWriter, KeepMtimeUsesExtendedInodes) {
  for (bool keep : {false, true}) {
    FileTree tree;
    NodeId with = *tree.add_file(kRootNode, "with", 1);
    NodeId without = *tree.add_file(kRootNode, "without", 1);
    tree.set_mtime(with, {1600000000, 123456789});
    ImageOptions options;
    options.keep_mtime = keep;
    options.build_time = {1700000000, 0};
    Image image = build(tree, options);
    MetadataReader reader = open_reader(image);
    InodeInfo a = *reader.inode(image.writer.nid(with));
    InodeInfo b = *reader.inode(image.writer.nid(without));
    EXPECT_EQ(a.extended, keep);
    EXPECT_FALSE(b.extended);
    EXPECT_EQ(a.mtime.seconds, keep ? 1600000000 : 1700000000);
    EXPECT_EQ(a.mtime.nanoseconds, keep ? 123456789u : 0u);
    EXPECT_EQ(b.mtime.seconds, 1700000000);
  }
}

TEST(ErofsImageWriter, DirectoryWithMoreThan65535LinksIsExtended) {
  FileTree tree;
  for (int i = 0; i < 65534; ++i) {
    ASSERT_TRUE(tree.add_directory(kRootNode, "d" + std::to_string(i)).ok());
  }
  ASSERT_TRUE(tree.seal().ok());
  ImageWriter writer = *ImageWriter::plan(tree, {});
  EXPECT_TRUE(writer.has_extended_inode(kRootNode));  // nlink 65536
  // Keep block 0 only (it holds the root inode); the rest is 64k directory blocks.
  std::vector<uint8_t> first_block;
  Status written = writer.write(tree, [&](std::span<const uint8_t> block) -> Status {
    if (first_block.empty()) first_block.assign(block.begin(), block.end());
    return {};
  });
  ASSERT_TRUE(written.ok()) << written.error().describe();
  MetadataReader reader = *MetadataReader::open(first_block);
  InodeInfo root = *reader.inode(reader.root_nid());
  EXPECT_TRUE(root.extended);
  EXPECT_EQ(root.nlink, 65536u);
}

TEST(ErofsImageWriter, RefusesVolumesPast16TiB) {
  FileTree tree;
  ASSERT_TRUE(tree.add_file(kRootNode, "a", 6 * kTiB).ok());
  ASSERT_TRUE(tree.add_file(kRootNode, "b", 6 * kTiB).ok());
  ASSERT_TRUE(tree.add_file(kRootNode, "c", 6 * kTiB).ok());
  ASSERT_TRUE(tree.seal().ok());
  ImageWriter writer = *ImageWriter::plan(tree, {});
  Result<uint32_t> placed = assign_data_blocks_contiguously(tree, writer.metadata_blocks());
  ASSERT_FALSE(placed.ok());
  EXPECT_EQ(placed.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(placed.error().message.find("/c"), std::string::npos) << placed.error().message;
  EXPECT_NE(placed.error().message.find("16 TiB"), std::string::npos) << placed.error().message;
}

TEST(ErofsImageWriter, DeviceBlocksStopAtTheLastAddressableBlock) {
  FileTree tree;
  NodeId f = *tree.add_file(kRootNode, "f", 2 * kBlockSize);
  ASSERT_TRUE(tree.seal().ok());
  ImageWriter writer = *ImageWriter::plan(tree, {});
  tree.set_data_block(f, static_cast<uint32_t>(kMaxDeviceBlocks - 2));  // ends at 2^32 - 1
  Result<uint32_t> fits = writer.device_blocks(tree);
  ASSERT_TRUE(fits.ok()) << fits.error().describe();
  EXPECT_EQ(*fits, kMaxDeviceBlocks);
  tree.set_data_block(f, static_cast<uint32_t>(kMaxDeviceBlocks - 1));  // would end at 2^32
  Result<uint32_t> past = writer.device_blocks(tree);
  ASSERT_FALSE(past.ok());
  EXPECT_NE(past.error().message.find("16 TiB"), std::string::npos);
  EXPECT_FALSE(writer.write(tree, [](std::span<const uint8_t>) -> Status { return {}; }).ok());
}

TEST(ErofsImageWriter, RefusesFileDataInsideTheMetadata) {
  FileTree tree;
  NodeId f = *tree.add_file(kRootNode, "f", 10);
  ASSERT_TRUE(tree.seal().ok());
  ImageWriter writer = *ImageWriter::plan(tree, {});
  tree.set_data_block(f, 0);
  Result<std::vector<uint8_t>> written = writer.write_to_memory(tree);
  ASSERT_FALSE(written.ok());
  EXPECT_NE(written.error().message.find("/f"), std::string::npos);
}

TEST(ErofsImageWriter, RefusesUnsealedOrChangedTrees) {
  FileTree tree;
  ASSERT_TRUE(tree.add_file(kRootNode, "f", 0).ok());
  EXPECT_FALSE(ImageWriter::plan(tree, {}).ok());
  ASSERT_TRUE(tree.seal().ok());
  ImageWriter writer = *ImageWriter::plan(tree, {});
  ASSERT_TRUE(tree.add_file(kRootNode, "g", 0).ok());
  EXPECT_FALSE(writer.write_to_memory(tree).ok());
  ImageOptions long_name;
  long_name.volume_name = std::string(17, 'v');
  ASSERT_TRUE(tree.seal().ok());
  EXPECT_FALSE(ImageWriter::plan(tree, long_name).ok());
}

TEST(ErofsImageWriter, DataIsContiguousInDepthFirstOrder) {
  FileTree tree;
  NodeId z = *tree.add_file(kRootNode, "z", 1);
  NodeId dir = *tree.add_directory(kRootNode, "m");
  NodeId inner = *tree.add_file(dir, "inner", 3 * kBlockSize + 1);
  NodeId empty = *tree.add_file(dir, "empty", 0);
  NodeId a = *tree.add_file(kRootNode, "a", kBlockSize);
  ASSERT_TRUE(tree.seal().ok());
  Result<uint32_t> end = assign_data_blocks_contiguously(tree, 10);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(tree.data_block(a), 10u);
  EXPECT_EQ(tree.data_block(inner), 11u);
  EXPECT_EQ(tree.data_block(z), 15u);
  EXPECT_EQ(tree.data_block(empty), 0u);
  EXPECT_EQ(*end, 16u);
}

TEST(ErofsImageWriter, InodesNeverStraddleBlocks) {
  FileTree tree;
  for (int i = 0; i < 500; ++i) {
    NodeId f = *tree.add_file(kRootNode, "f" + std::to_string(i), i % 5 == 0 ? 5 * kGiB : 1);
    if (i % 7 == 0) tree.set_mtime(f, {i, 0});
  }
  ImageOptions options;
  options.keep_mtime = true;
  Image image = build(tree, options);
  for (NodeId node = 0; node < tree.size(); ++node) {
    uint64_t offset = image.writer.nid(node) * kInodeSlotSize;
    uint64_t size = image.writer.has_extended_inode(node) ? 64 : 32;
    EXPECT_EQ(offset / kBlockSize, (offset + size - 1) / kBlockSize) << tree.path(node);
  }
  MetadataReader reader = open_reader(image);
  EXPECT_EQ(reader.list(*reader.inode(reader.root_nid()))->size(), 502u);
}


// Found by fuzzing (fuzz/corpus/index_file_fuzz/regression-inode-offset-wraps): a dirent's
// 64-bit nid times the slot size wrapped around, passed the bounds check and read before the
// region.
TEST(ErofsMetadataReader, NidsWhoseOffsetWrapsAreCorrupt) {
  FileTree tree;
  ASSERT_TRUE(tree.add_file(kRootNode, "a", 3).ok());
  Image image = build(tree);
  MetadataReader reader = open_reader(image);
  for (uint64_t nid : {(uint64_t{1} << 59) - 1, (uint64_t{1} << 59), ~uint64_t{0}}) {
    Result<InodeInfo> inode = reader.inode(nid);
    ASSERT_FALSE(inode.ok()) << nid;
    EXPECT_EQ(inode.error().kind, ErrorKind::kCorrupt);
    EXPECT_NE(inode.error().message.find("lies past the metadata"), std::string::npos)
        << inode.error().message;
  }
}

// Found by fuzzing (fuzz/corpus/erofs_reader_fuzz/regression-name-with-slash): list() handed
// out a name holding '/', which lookup() can never find and a tool would print as a path.
TEST(ErofsMetadataReader, NamesWithSlashOrNulAreCorrupt) {
  for (char bad : {'/', '\0'}) {
    FileTree tree;
    ASSERT_TRUE(tree.add_file(kRootNode, "zz-unique", 3).ok());
    // Not the directory's last name, which ends at its first NUL by the format's rules.
    ASSERT_TRUE(tree.add_file(kRootNode, "zzz-last", 3).ok());
    Image image = build(tree);
    std::string_view bytes(reinterpret_cast<const char*>(image.metadata.data()),
                           image.metadata.size());
    size_t at = bytes.find("zz-unique");
    ASSERT_NE(at, std::string_view::npos);
    ASSERT_GE(at, kBlockSize);  // outside the super block's checksum
    image.metadata[at + 2] = static_cast<uint8_t>(bad);
    MetadataReader reader = open_reader(image);
    Result<InodeInfo> root = reader.inode(reader.root_nid());
    ASSERT_TRUE(root.ok());
    Result<std::vector<DirectoryEntry>> entries = reader.list(*root);
    ASSERT_FALSE(entries.ok());
    EXPECT_EQ(entries.error().kind, ErrorKind::kCorrupt);
    EXPECT_NE(entries.error().message.find(bad == '/' ? "contains '/'" : "NUL"),
              std::string::npos)
        << entries.error().message;
  }
}

}  // namespace
}  // namespace shoal::index::erofs
