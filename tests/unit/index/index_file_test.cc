#include "index/index_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "support/small_index.h"

namespace shoal::index {
namespace {

namespace fs = std::filesystem;
using test::SmallIndex;

class IndexFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("shoal-index-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    path_ = (dir_ / "small.shix").string();
    ASSERT_TRUE(write_index_file(path_, SmallIndex{}.contents()).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  void flip_byte_at(uint64_t offset) {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5A);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(&c, 1);
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(IndexFileTest, RoundTripsEverySection) {
  auto file = IndexFile::open(path_);
  ASSERT_TRUE(file.ok()) << file.error().describe();
  EXPECT_EQ(file->summary().device_blocks, 5u);
  EXPECT_EQ(file->summary().metadata_blocks, 2u);
  EXPECT_EQ(file->device_bytes(), 5u * kBlockSize);
  ASSERT_EQ(file->objects().size(), 3u);
  EXPECT_EQ(file->key(file->objects()[1]), "empty");
  EXPECT_EQ(file->etag(file->objects()[2]), "etag-b");
  EXPECT_EQ(file->metadata()[kBlockSize + 7], 0xAB);
  EXPECT_EQ(file->build_info().source, "file:///x");
  EXPECT_EQ(file->build_info().objects, 3u);
  EXPECT_TRUE(file->check_entries().ok());
}

TEST_F(IndexFileTest, FindsTheExtentOfEveryDataBlockAndNothingElse) {
  auto file = IndexFile::open(path_);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->find_extent(0), nullptr);  // metadata
  EXPECT_EQ(file->find_extent(1), nullptr);
  ASSERT_NE(file->find_extent(2), nullptr);
  EXPECT_EQ(file->find_extent(2)->object, 0u);
  EXPECT_EQ(file->find_extent(3)->object, 0u);  // second block of a 5000-byte object
  EXPECT_EQ(file->find_extent(4)->object, 2u);
  EXPECT_EQ(file->find_extent(5), nullptr);  // past the end
  EXPECT_EQ(file->find_extent(1ull << 40), nullptr);
}

TEST_F(IndexFileTest, AFlippedByteInEachSectionIsRefusedNamingIt) {
  // Section order on disk follows the header's table: metadata, extents, objects, strings,
  // build info, each at a 4096-byte boundary after the header.
  const std::vector<std::pair<uint64_t, std::string>> cases = {
      {10, "header"},
      {4096 + 100, "section metadata"},
      {4096 + 2 * 4096 + 3, "section extents"},
      {4096 + 3 * 4096 + 9, "section objects"},
      {4096 + 4 * 4096 + 2, "section strings"},
      {4096 + 5 * 4096 + 1, "section build-info"},
  };
  for (const auto& [offset, name] : cases) {
    ASSERT_TRUE(write_index_file(path_, SmallIndex{}.contents()).ok());
    flip_byte_at(offset);
    auto file = IndexFile::open(path_);
    ASSERT_FALSE(file.ok()) << "flip at " << offset << " went unnoticed";
    EXPECT_EQ(file.error().kind, ErrorKind::kCorrupt);
    EXPECT_NE(file.error().message.find(name), std::string::npos) << file.error().message;
  }
}

TEST_F(IndexFileTest, TruncationIsRefusedNamingTheSection) {
  for (uint64_t size : {0ull, 100ull, 4096ull, 4096ull + 5000, 4096ull + 5 * 4096}) {
    ASSERT_TRUE(write_index_file(path_, SmallIndex{}.contents()).ok());
    ASSERT_EQ(::truncate(path_.c_str(), static_cast<off_t>(size)), 0);
    auto file = IndexFile::open(path_);
    ASSERT_FALSE(file.ok()) << "truncated to " << size;
    EXPECT_NE(file.error().message.find("truncated"), std::string::npos) << file.error().message;
  }
}

TEST_F(IndexFileTest, ForeignFileIsRefused) {
  std::ofstream(path_, std::ios::trunc) << std::string(8192, 'x');
  auto file = IndexFile::open(path_);
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.error().message.find("not a shoal index"), std::string::npos);
}

TEST_F(IndexFileTest, EntryChecksCatchBadReferencesThatChecksumsCannot) {
  SmallIndex bad;
  bad.extents = {{4, 2}, {2, 0}};  // unsorted
  ASSERT_TRUE(write_index_file(path_, bad.contents()).ok());
  auto file = IndexFile::open(path_);
  ASSERT_TRUE(file.ok());
  EXPECT_FALSE(file->check_entries().ok());

  SmallIndex outside;
  outside.objects[0].key_offset = 1000;
  ASSERT_TRUE(write_index_file(path_, outside.contents()).ok());
  auto file2 = IndexFile::open(path_);
  ASSERT_TRUE(file2.ok());
  EXPECT_FALSE(file2->check_entries().ok());
  EXPECT_EQ(file2->key(file2->objects()[0]), "");
}

// Found by fuzzing (fuzz/corpus/index_file_fuzz/regression-size-wraps-to-zero-blocks): an
// object size near 2^64 rounded up to zero blocks, so its extent passed check_entries() yet
// find_extent() never found it.
TEST_F(IndexFileTest, ObjectSizesNear64BitsAreNotZeroBlocks) {
  SmallIndex huge;
  huge.objects[0].size = ~uint64_t{0};
  ASSERT_TRUE(write_index_file(path_, huge.contents()).ok());
  auto file = IndexFile::open(path_);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->blocks_of(file->objects()[0]), (~uint64_t{0} >> 12) + 1);
  Status entries = file->check_entries();
  ASSERT_FALSE(entries.ok());
  EXPECT_NE(entries.error().message.find("ends past the device"), std::string::npos)
      << entries.error().message;
}

}  // namespace
}  // namespace shoal::index
