// End to end through the `shoal` binary: build an index of a file:// tree, export the image,
// let fsck.erofs and the kernel judge it, and compare every file and directory with the source.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "support/command.h"
#include "support/files.h"
#include "support/mounts.h"
#include "support/temp_dir.h"

namespace {

namespace fs = std::filesystem;

const std::string kShoal = SHOAL_BINARY_DIR "/tools/shoal";

using shoal::test::CommandResult;
constexpr auto sh = shoal::test::run_command;


// `size` pseudo-random bytes from `seed`, written eight at a time: the test writes ~60 MB of
// them, and a generator call per byte is slow under the sanitizers.
void write_file(const fs::path& p, size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string data(size, '\0');
  for (size_t at = 0; at < size; at += 8) {
    uint64_t word = rng();
    std::memcpy(data.data() + at, &word, std::min<size_t>(8, size - at));
  }
  std::ofstream(p, std::ios::binary).write(data.data(), static_cast<std::streamsize>(size));
}

// An empty file, with two system calls (the test makes 100,000 of them).
bool create_empty_file(const fs::path& p) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  return fd >= 0 && ::close(fd) == 0;
}

// size + xxh3-64 of a file's bytes, or of a directory's sorted listing.
struct Fingerprint {
  bool directory;
  uint64_t size;
  uint64_t hash;
  bool operator==(const Fingerprint&) const = default;
};

// read_file() reads through a stack buffer: a 1 MiB heap buffer per file cost an mmap and a
// munmap each under ASan, minutes of system time over the 220,000 files this test hashes.
uint64_t hash_file(const fs::path& p) {
  std::string bytes = shoal::test::read_file(p);
  return XXH3_64bits(bytes.data(), bytes.size());
}

// A few sampled ranges of a large file.
uint64_t hash_samples(const fs::path& p, uint64_t size) {
  std::ifstream f(p, std::ios::binary);
  std::string samples;
  for (uint64_t at : {uint64_t{0}, uint64_t{1} << 20, uint64_t{4} << 30, size - 4096}) {
    std::string buf(4096, '\0');
    f.seekg(static_cast<std::streamoff>(at));
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    samples += buf.substr(0, static_cast<size_t>(f.gcount()));
    f.clear();
  }
  return XXH3_64bits(samples.data(), samples.size());
}

// Every entry below root, keyed by its path relative to root; files larger than 1 GiB are
// fingerprinted by size and a few sampled ranges, so a sparse 5 GiB file costs little.
std::map<std::string, Fingerprint> fingerprint_tree(const fs::path& root,
                                                    const std::set<std::string>& leave_out) {
  std::map<std::string, Fingerprint> out;
  const size_t strip = root.string().size() + 1;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    std::string rel = it->path().string().substr(strip);
    if (leave_out.count(rel)) continue;
    if (it->is_directory()) {
      std::set<std::string> sorted;
      for (auto& e : fs::directory_iterator(it->path())) {
        std::string rel_child = e.path().string().substr(strip);
        if (!leave_out.count(rel_child)) sorted.insert(e.path().filename().string());
      }
      std::string names;
      for (auto& n : sorted) names += n + "\n";
      out[rel] = {true, sorted.size(), XXH3_64bits(names.data(), names.size())};
      continue;
    }
    uint64_t size = it->file_size();
    bool large = size > (1ull << 30);
    out[rel] = {false, size, large ? hash_samples(it->path(), size) : hash_file(it->path())};
  }
  return out;
}

class IndexBuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "this test mounts EROFS and must run as root";
    ASSERT_TRUE(fs::exists(kShoal)) << kShoal << " is missing: build the shoal target";
    ASSERT_EQ(sh("command -v fsck.erofs").exit_code, 0) << "fsck.erofs missing: run scripts/setup";
    ASSERT_FALSE(temp_.path().empty()) << std::strerror(errno);
    fs::create_directories(src_);
  }

  shoal::test::TempDir temp_{"shoal-index-build"};
  fs::path dir_{temp_.path()};
  fs::path src_{dir_ / "src" / "data"};
};

TEST_F(IndexBuildTest, ExportedImagePassesFsckAndMountsWithEveryFileIntact) {
  std::mt19937_64 rng(42);
  // 10,000 files in nested directories: mostly small, one in a hundred up to 300 KB.
  for (int d = 0; d < 50; ++d)
    for (int s = 0; s < 7; ++s)
      fs::create_directories(src_ / ("d" + std::to_string(d)) / ("s" + std::to_string(s)));
  for (int i = 0; i < 10000; ++i) {
    fs::path d = src_ / ("d" + std::to_string(i % 50)) / ("s" + std::to_string(i % 7));
    size_t size = (i % 100 == 0) ? 1 + rng() % 300000 : 1 + rng() % 8192;
    write_file(d / ("f" + std::to_string(i) + ".bin"), size, static_cast<uint64_t>(i));
  }
  // A directory of 100,000 entries: empty files.
  fs::create_directories(src_ / "wide");
  for (int i = 0; i < 100000; ++i)
    ASSERT_TRUE(create_empty_file(src_ / "wide" / ("e" + std::to_string(i))))
        << std::strerror(errno);
  fs::create_directories(src_ / "empty-dir");
  fs::create_directories(src_ / "names");
  for (std::string name : {"with space.txt", "plus+sign", "per%cent", "ünïcødé-日本.txt", "eq=ual"})
    write_file(src_ / "names" / name, 0, 0), write_file(src_ / name, 100, 7);
  // A sparse 5 GiB file: needs an extended inode.
  {
    std::ofstream big(src_ / "big.sparse", std::ios::binary);
    big.seekp((5ll << 30) - 5);
    big.write("tail!", 5);
    big.seekp(1 << 20);
    big.write("head", 4);
  }
  // A name the rules skip (control character).
  std::string bad = std::string("bad") + '\x01' + "name";
  write_file(src_ / bad, 10, 1);

  fs::path index = dir_ / "data.shix", image = dir_ / "data.img", mnt = dir_ / "mnt";
  CommandResult build =
      sh(kShoal + " index build file://" + src_.string() + " -o " + index.string());
  ASSERT_EQ(build.exit_code, 0) << build.output;
  EXPECT_NE(build.output.find("1 skipped"), std::string::npos) << build.output;

  CommandResult verify = sh(kShoal + " index verify " + index.string());
  ASSERT_EQ(verify.exit_code, 0) << verify.output;
  CommandResult info = sh(kShoal + " index info " + index.string());
  ASSERT_EQ(info.exit_code, 0) << info.output;
  // Skipped keys are reported whole: for file:// that is the absolute path without its '/'.
  std::string bad_key = (src_ / bad).string().substr(1);
  EXPECT_NE(info.output.find("skipped: control-character\t" + bad_key), std::string::npos)
      << info.output;

  CommandResult ls = sh(kShoal + " index ls " + index.string() + " names");
  ASSERT_EQ(ls.exit_code, 0) << ls.output;
  EXPECT_NE(ls.output.find("ünïcødé-日本.txt"), std::string::npos) << ls.output;

  CommandResult exported = sh(kShoal + " index export " + index.string() + " " + image.string());
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  CommandResult fsck = sh("fsck.erofs " + image.string());
  ASSERT_EQ(fsck.exit_code, 0) << fsck.output;

  fs::create_directories(mnt);
  shoal::test::MountGuard guard;
  CommandResult mount = guard.mount_erofs(image, mnt);
  ASSERT_EQ(mount.exit_code, 0) << mount.output;

  // Directories are not objects: an empty source directory has no key and no volume entry.
  auto expected = fingerprint_tree(src_, {bad, "empty-dir"});
  auto actual = fingerprint_tree(mnt, {});
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [path, fp] : expected) {
    auto it = actual.find(path);
    ASSERT_NE(it, actual.end()) << path << " missing from the mounted volume";
    EXPECT_EQ(it->second, fp) << path << " differs";
  }
  struct stat st {};
  ASSERT_EQ(::stat((mnt / "big.sparse").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 5ll << 30);
}

TEST_F(IndexBuildTest, CorruptOrTruncatedIndexIsRefusedNamingTheSection) {
  write_file(src_ / "a.bin", 5000, 1);
  write_file(src_ / "b.bin", 10, 2);
  fs::path index = dir_ / "data.shix";
  ASSERT_EQ(sh(kShoal + " index build file://" + src_.string() + " -o " + index.string()).exit_code, 0);
  std::string pristine;
  {
    std::ifstream f(index, std::ios::binary);
    pristine.assign(std::istreambuf_iterator<char>(f), {});
  }
  // Flip byte 3 of every 4096-byte block: each block is the header or starts a section (or
  // continues the metadata section), and byte 3 is inside it, so every flip must be caught.
  for (size_t at = 3; at < pristine.size(); at += 4096) {
    std::string damaged = pristine;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x40);
    std::ofstream(index, std::ios::binary | std::ios::trunc) << damaged;
    for (std::string cmd : {"verify", "info"}) {
      CommandResult r = sh(kShoal + " index " + cmd + " " + index.string());
      EXPECT_EQ(r.exit_code, 1) << "byte " << at << " flipped went unnoticed: " << r.output;
      EXPECT_TRUE(r.output.find("section") != std::string::npos || r.output.find("header") != std::string::npos)
          << "byte " << at << ": " << r.output;
    }
  }
  std::ofstream(index, std::ios::binary | std::ios::trunc) << pristine.substr(0, pristine.size() - 100);
  CommandResult r = sh(kShoal + " index verify " + index.string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("truncated in section"), std::string::npos) << r.output;
}

// A manifest handed over a pipe that turns out empty (a failed upstream command) must fail the
// build, never write an empty index with exit status 0; a header line alone is refused too.
TEST_F(IndexBuildTest, AnEmptyManifestFromAPipeIsRefusedAndWritesNoIndex) {
  fs::path index = dir_ / "empty.shix";
  for (std::string input : {"printf ''", "printf 'key,size,etag,mtime\\n'"}) {
    CommandResult r = sh(input + " | " + kShoal + " index build file://" + src_.string() +
                         " --from-manifest /dev/stdin -o " + index.string());
    EXPECT_NE(r.exit_code, 0) << input << ": " << r.output;
    EXPECT_NE(r.output.find("holds no objects"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(index)) << input << " left an index behind";
  }
}

}  // namespace
