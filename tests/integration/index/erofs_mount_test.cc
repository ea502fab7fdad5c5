// The oracles for the EROFS writer: a complete image (our metadata plus file data written at
// each file's data blocks) must pass fsck.erofs and mount with the kernel's EROFS driver, and
// every file's size, mode, mtime and bytes and every directory's listing must read back.
// Needs root, fsck.erofs (erofs-utils) and loop devices; fails loudly when they are missing.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "index/erofs/file_tree.h"
#include "index/erofs/format.h"
#include "index/erofs/image_writer.h"

#include "support/command.h"
#include "support/files.h"
#include "support/mounts.h"
#include "support/temp_dir.h"

namespace shoal::index::erofs {
namespace {

constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kKiB = 1ull << 10;

using test::CommandResult;
using test::have_tool;
using test::read_range;
constexpr auto run = test::run_command;

// Deterministic file contents: byte `offset` of the file with `seed`.
uint8_t content_byte(uint64_t seed, uint64_t offset) {
  uint64_t x = (offset >> 3) * 0x9E3779B97F4A7C15ull ^ (seed * 0xBF58476D1CE4E5B9ull);
  x ^= x >> 31;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 29;
  return static_cast<uint8_t>(x >> ((offset & 7) * 8));
}

std::vector<uint8_t> content(uint64_t seed, uint64_t offset, uint64_t length) {
  std::vector<uint8_t> out(length);
  for (uint64_t i = 0; i < length; ++i) out[i] = content_byte(seed, offset + i);
  return out;
}

struct Range {
  uint64_t offset;
  uint64_t length;
};

// A file of the test tree: fully written, or sparse with data only in `written` (zeros
// elsewhere, holes in the image file).
struct ExpectedFile {
  NodeId node;
  uint64_t seed;
  std::vector<Range> written;  // empty: the whole file
};

class ErofsMountTest : public ::testing::Test {
 protected:
  NodeId add_file(NodeId parent, std::string_view name, uint64_t size,
                  std::vector<Range> written = {}) {
    Result<NodeId> node = tree_.add_file(parent, name, size);
    EXPECT_TRUE(node.ok()) << node.error().describe();
    files_.push_back({*node, files_.size() + 1, std::move(written)});
    return *node;
  }
  NodeId add_directory(NodeId parent, std::string_view name) {
    Result<NodeId> node = tree_.add_directory(parent, name);
    EXPECT_TRUE(node.ok()) << node.error().describe();
    return *node;
  }

  void build_tree();
  void write_image(const std::string& image_path);
  void check_file(const std::string& mount, const ExpectedFile& file);
  void check_directory(const std::string& mount, NodeId dir);

  FileTree tree_;
  std::vector<ExpectedFile> files_;
  std::unique_ptr<ImageWriter> writer_;
  ImageOptions options_;
  NodeId five_gib_ = 0;
  NodeId small_ = 0;
  NodeId timed_ = 0;
};

void ErofsMountTest::build_tree() {
  NodeId nested = add_directory(kRootNode, "nested");
  uint64_t lcg = 12345;
  for (int d = 0; d < 12; ++d) {
    NodeId dir = add_directory(nested, "dir" + std::to_string(d));
    NodeId sub = add_directory(dir, "sub");
    NodeId deeper = add_directory(sub, "deeper");
    for (int f = 0; f < 25; ++f) {
      lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
      uint64_t size = 1 + (lcg >> 33) % (20 * kKiB);
      NodeId parent = f % 3 == 0 ? dir : (f % 3 == 1 ? sub : deeper);
      add_file(parent, "file-" + std::to_string(f) + ".bin", size);
    }
  }
  for (uint64_t size : {uint64_t{1}, uint64_t{4095}, uint64_t{4096}, uint64_t{4097},
                        uint64_t{8192}}) {
    add_file(nested, "edge-" + std::to_string(size), size);
  }
  add_file(kRootNode, "empty.bin", 0);
  add_file(nested, "zero", 0);
  add_directory(kRootNode, "empty-dir");

  NodeId wide = add_directory(kRootNode, "wide");
  for (int i = 0; i < 100'000; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "entry-%06d", i);
    if (i % 10'000 == 5) {
      add_directory(wide, std::string(name) + ".d");
    } else {
      add_file(wide, name, i % 1000 == 0 ? 1000 : 0);
    }
  }

  NodeId names = add_directory(kRootNode, "names");
  for (std::string_view name :
       {"with space", "plus+sign", "percent%41", "100%", "a+b%c d", "+leading-plus", ",comma",
        "-dash", "unicod\xc3\xa9-\xe6\x97\xa5\xe6\x9c\xac-\xe2\x9c\x93", "emoji \xf0\x9f\x98\x80",
        "...", ".hidden", "UPPER", "~tilde"}) {
    add_file(names, name, name.size());
  }
  add_file(names, std::string(255, 'L'), 255);

  NodeId big = add_directory(kRootNode, "big");
  small_ = add_file(big, "300k.bin", 300 * kKiB + 7);
  tree_.set_permissions(small_, 0600);
  timed_ = add_file(big, "timed.bin", 10);
  tree_.set_mtime(timed_, {1234567890, 987654321});

  NodeId huge = add_directory(kRootNode, "huge");
  uint64_t size = 5 * kGiB + 123;
  five_gib_ = add_file(huge, "5g.bin", size,
                       {{0, 64 * kKiB}, {4 * kGiB - 32 * kKiB, 64 * kKiB},
                        {size - 64 * kKiB, 64 * kKiB}});
}

Status pwrite_all(int fd, const uint8_t* data, size_t length, uint64_t offset) {
  while (length > 0) {
    ssize_t n = pwrite(fd, data, length, static_cast<off_t>(offset));
    if (n < 0) return errno_error("pwrite image", errno);
    data += n;
    length -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

void ErofsMountTest::write_image(const std::string& image_path) {
  int fd = open(image_path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  uint64_t offset = 0;
  Status written = writer_->write(tree_, [&](std::span<const uint8_t> block) -> Status {
    SHOAL_TRY(pwrite_all(fd, block.data(), block.size(), offset));
    offset += block.size();
    return {};
  });
  EXPECT_TRUE(written.ok()) << written.error().describe();
  for (const ExpectedFile& file : files_) {
    uint64_t size = tree_.file_size(file.node);
    uint64_t base = uint64_t{tree_.data_block(file.node)} * kBlockSize;
    std::vector<Range> ranges = file.written;
    if (ranges.empty()) ranges.push_back({0, size});
    for (const Range& r : ranges) {
      std::vector<uint8_t> bytes = content(file.seed, r.offset, r.length);
      Status s = pwrite_all(fd, bytes.data(), bytes.size(), base + r.offset);
      EXPECT_TRUE(s.ok()) << s.error().describe();
    }
  }
  Result<uint32_t> blocks = writer_->device_blocks(tree_);
  ASSERT_TRUE(blocks.ok()) << blocks.error().describe();
  EXPECT_EQ(ftruncate(fd, static_cast<off_t>(uint64_t{*blocks} * kBlockSize)), 0);
  close(fd);
}

void ErofsMountTest::check_file(const std::string& mount, const ExpectedFile& file) {
  std::string path = mount + tree_.path(file.node);
  uint64_t size = tree_.file_size(file.node);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0) << path << ": " << std::strerror(errno);
  ASSERT_TRUE(S_ISREG(st.st_mode)) << path;
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), size) << path;
  EXPECT_EQ(st.st_mode & 07777, tree_.mode(file.node) & 07777) << path;
  EXPECT_EQ(st.st_nlink, 1u) << path;
  if (file.written.empty()) {
    EXPECT_TRUE(read_range(path, 0, size) == content(file.seed, 0, size)) << path;
    return;
  }
  for (const Range& r : file.written) {
    EXPECT_TRUE(read_range(path, r.offset, r.length) == content(file.seed, r.offset, r.length))
        << path << " at " << r.offset;
  }
  EXPECT_EQ(read_range(path, 2 * kGiB, 64 * kKiB), std::vector<uint8_t>(64 * kKiB, 0))
      << path << ": a hole between the written ranges";
  EXPECT_TRUE(read_range(path, size, 16).empty()) << path << ": bytes past the end";
}

// readdir returns the on-disk order: EROFS name order with "." and ".." among the names.
void ErofsMountTest::check_directory(const std::string& mount, NodeId dir) {
  std::string path = mount + tree_.path(dir);
  std::vector<std::string> expected = {".", ".."};
  uint32_t subdirectories = 0;
  for (NodeId child : tree_.children(dir)) {
    expected.emplace_back(tree_.name(child));
    subdirectories += tree_.is_directory(child) ? 1 : 0;
  }
  std::sort(expected.begin(), expected.end(), name_less);

  DIR* handle = opendir(path.c_str());
  ASSERT_NE(handle, nullptr) << path << ": " << std::strerror(errno);
  std::vector<std::string> listed;
  while (dirent* entry = readdir(handle)) listed.emplace_back(entry->d_name);
  closedir(handle);
  EXPECT_EQ(listed, expected) << path;

  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0) << path;
  EXPECT_TRUE(S_ISDIR(st.st_mode)) << path;
  EXPECT_EQ(st.st_mode & 07777, 0755u) << path;
  EXPECT_EQ(st.st_nlink, 2u + subdirectories) << path;
}

uint16_t inode_format_at(const std::string& image, uint64_t nid) {
  std::vector<uint8_t> bytes = read_range(image, nid * kInodeSlotSize, 2);
  return bytes.size() == 2 ? static_cast<uint16_t>(bytes[0] | bytes[1] << 8) : 0xFFFF;
}

TEST_F(ErofsMountTest, KernelMountsWhatFsckAccepts) {
  ASSERT_EQ(geteuid(), 0u) << "this test mounts an image: run it as root";
  ASSERT_TRUE(have_tool("fsck.erofs")) << "fsck.erofs not found: install erofs-utils";
  ASSERT_TRUE(have_tool("mount")) << "mount not found: install util-linux";

  build_tree();
  ASSERT_TRUE(tree_.seal().ok());
  options_.keep_mtime = true;
  options_.build_time = {1700000000, 0};
  options_.volume_name = "shoal-test";
  Result<ImageWriter> planned = ImageWriter::plan(tree_, options_);
  ASSERT_TRUE(planned.ok()) << planned.error().describe();
  writer_ = std::make_unique<ImageWriter>(std::move(*planned));
  Result<uint32_t> end = assign_data_blocks_contiguously(tree_, writer_->metadata_blocks());
  ASSERT_TRUE(end.ok()) << end.error().describe();
  ASSERT_TRUE(writer_->has_extended_inode(five_gib_));
  ASSERT_TRUE(writer_->has_extended_inode(timed_));
  ASSERT_FALSE(writer_->has_extended_inode(small_));

  test::TempDir temp("shoal-erofs");
  ASSERT_FALSE(temp.path().empty()) << "mkdtemp: " << std::strerror(errno);
  std::string image = temp.path() + "/image.erofs";
  std::string mount_point = temp.path() + "/mnt";
  ASSERT_TRUE(std::filesystem::create_directory(mount_point));
  write_image(image);
  ASSERT_FALSE(HasFatalFailure());

  CommandResult fsck = run("fsck.erofs " + image);
  ASSERT_EQ(fsck.exit_code, 0) << "fsck.erofs rejected the image:\n" << fsck.output;

  // Declared after the TempDir it mounts into, so it is undone first.
  test::MountGuard guard;
  CommandResult mounted = guard.mount_erofs(image, mount_point);
  ASSERT_EQ(mounted.exit_code, 0) << "mount failed:\n" << mounted.output;

  tree_.visit_depth_first([&](NodeId node) {
    if (tree_.is_directory(node)) check_directory(mount_point, node);
  });
  for (const ExpectedFile& file : files_) check_file(mount_point, file);

  // The kernel reports nids as inode numbers: check which inode form each file got on disk.
  struct stat st {};
  ASSERT_EQ(stat((mount_point + tree_.path(five_gib_)).c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_ino), writer_->nid(five_gib_));
  EXPECT_EQ(inode_format_at(image, st.st_ino), inode_format(kInodeLayoutExtended, 0));
  ASSERT_EQ(stat((mount_point + tree_.path(small_)).c_str(), &st), 0);
  EXPECT_EQ(inode_format_at(image, st.st_ino), inode_format(kInodeLayoutCompact, 0));
  EXPECT_EQ(st.st_mtime, 1700000000);  // no mtime of its own: the build time
  ASSERT_EQ(stat((mount_point + tree_.path(timed_)).c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1234567890);
  EXPECT_EQ(st.st_mtim.tv_nsec, 987654321);

  // The image file itself stays sparse: the 5 GiB file's holes use no disk.
  struct stat image_stat {};
  ASSERT_EQ(stat(image.c_str(), &image_stat), 0);
  EXPECT_LT(static_cast<uint64_t>(image_stat.st_blocks) * 512, 256 * 1024 * kKiB);
}

}  // namespace
}  // namespace shoal::index::erofs
