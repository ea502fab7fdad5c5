// End to end through the `shoal` binary: build an index of a file:// tree, export the image,
// let fsck.erofs and the kernel judge it, and compare every file and directory with the source.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "support/command.h"

namespace {

namespace fs = std::filesystem;

const std::string kShoal = SHOAL_BINARY_DIR "/tools/shoal";

using shoal::test::CommandResult;
constexpr auto sh = shoal::test::run_command;


void write_file(const fs::path& p, size_t size, uint64_t seed) {
  std::ofstream f(p, std::ios::binary);
  std::mt19937_64 rng(seed);
  std::string data(size, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// size + xxh3-64 of a file's bytes, or of a directory's sorted listing.
struct Fingerprint {
  bool directory;
  uint64_t size;
  uint64_t hash;
  bool operator==(const Fingerprint&) const = default;
};

uint64_t hash_file(const fs::path& p) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  std::ifstream f(p, std::ios::binary);
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    XXH3_64bits_update(st, buf.data(), static_cast<size_t>(f.gcount()));
  }
  uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

// Every entry below root, keyed by its path relative to root; files larger than 1 GiB are
// fingerprinted by size and a few sampled ranges, so a sparse 5 GiB file costs little.
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

std::map<std::string, Fingerprint> fingerprint_tree(const fs::path& root,
                                                    const std::set<std::string>& leave_out) {
  std::map<std::string, Fingerprint> out;
  const size_t strip = root.string().size() + 1;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
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
    } else if (it->file_size() > (1ull << 30)) {
      out[rel] = {false, static_cast<uint64_t>(it->file_size()), hash_samples(it->path(), it->file_size())};
    } else {
      out[rel] = {false, static_cast<uint64_t>(it->file_size()), hash_file(it->path())};
    }
  }
  return out;
}

class ScopedMount {
 public:
  explicit ScopedMount(fs::path target) : target_(std::move(target)) {}
  ~ScopedMount() {
    if (mounted_) ::umount2(target_.c_str(), MNT_DETACH);
  }
  void set_mounted() { mounted_ = true; }

 private:
  fs::path target_;
  bool mounted_ = false;
};

class IndexBuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "this test mounts EROFS and must run as root";
    ASSERT_TRUE(fs::exists(kShoal)) << kShoal << " is missing: build the shoal target";
    ASSERT_EQ(sh("command -v fsck.erofs").exit_code, 0) << "fsck.erofs missing: run scripts/setup";
    char tmpl[] = "/tmp/shoal-index-build-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    src_ = dir_ / "src" / "data";
    fs::create_directories(src_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_, src_;
};

TEST_F(IndexBuildTest, ExportedImagePassesFsckAndMountsWithEveryFileIntact) {
  std::mt19937_64 rng(42);
  // 10,000 files in nested directories: mostly small, one in a hundred up to 300 KB.
  for (int i = 0; i < 10000; ++i) {
    fs::path d = src_ / ("d" + std::to_string(i % 50)) / ("s" + std::to_string(i % 7));
    fs::create_directories(d);
    size_t size = (i % 100 == 0) ? 1 + rng() % 300000 : 1 + rng() % 8192;
    write_file(d / ("f" + std::to_string(i) + ".bin"), size, static_cast<uint64_t>(i));
  }
  // A directory of 100,000 entries: empty files.
  fs::create_directories(src_ / "wide");
  for (int i = 0; i < 100000; ++i) std::ofstream(src_ / "wide" / ("e" + std::to_string(i)));
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
  CommandResult build = sh(kShoal + " index build file://" + src_.string() + " -o " + index.string());
  ASSERT_EQ(build.exit_code, 0) << build.output;
  EXPECT_NE(build.output.find("1 skipped"), std::string::npos) << build.output;

  CommandResult verify = sh(kShoal + " index verify " + index.string());
  ASSERT_EQ(verify.exit_code, 0) << verify.output;
  CommandResult info = sh(kShoal + " index info " + index.string());
  ASSERT_EQ(info.exit_code, 0) << info.output;
  // Skipped keys are reported whole: for file:// that is the absolute path without its '/'.
  std::string bad_key = (src_ / bad).string().substr(1);
  EXPECT_NE(info.output.find("skipped: control-character\t" + bad_key), std::string::npos) << info.output;

  CommandResult ls = sh(kShoal + " index ls " + index.string() + " names");
  ASSERT_EQ(ls.exit_code, 0) << ls.output;
  EXPECT_NE(ls.output.find("ünïcødé-日本.txt"), std::string::npos) << ls.output;

  CommandResult exported = sh(kShoal + " index export " + index.string() + " " + image.string());
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  CommandResult fsck = sh("fsck.erofs " + image.string());
  ASSERT_EQ(fsck.exit_code, 0) << fsck.output;

  fs::create_directories(mnt);
  ScopedMount guard(mnt);
  CommandResult mount = sh("mount -t erofs -o ro,loop " + image.string() + " " + mnt.string());
  ASSERT_EQ(mount.exit_code, 0) << mount.output;
  guard.set_mounted();

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

}  // namespace
