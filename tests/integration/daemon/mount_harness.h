// Shared pieces of the `shoal mount` / shoald integration tests: running the built tools, a
// source tree with the shapes that matter (nested directories, empty files, files over one
// block and over the chunk size, unicode names), comparing a mounted tree with it, and
// checking that nothing is left behind (mounts, loop devices, shoald processes, state).
//
// Each test gets its own temporary directory and its own SHOAL_RUN_DIR / SHOAL_INDEX_DIR inside
// it, so state never leaks between tests or into /run/shoal. Needs root, FUSE, loop devices and
// EROFS; fails loudly when something is missing.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/poll_reactor.h"
#include "store/open_store.h"
#include "support/command.h"
#include "support/files.h"
#include "support/mounts.h"
#include "support/s3rver.h"
#include "support/temp_dir.h"

namespace shoal::mount_test {

namespace fs = std::filesystem;

inline const std::string kShoal = SHOAL_BINARY_DIR "/tools/shoal";
inline const std::string kShoald = SHOAL_BINARY_DIR "/tools/shoald";

using test::CommandResult;
inline constexpr auto run = test::run_command;
using test::is_mounted;
using test::read_file;

// Live (not zombie) shoald processes whose command line mentions `needle`.
inline std::vector<pid_t> daemons_mentioning(const std::string& needle) {
  std::vector<pid_t> pids;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = read_file(entry.path() / "stat");
    size_t paren = stat.rfind(')');
    if (stat.find("(shoald)") == std::string::npos || paren == std::string::npos ||
        paren + 2 >= stat.size() || stat[paren + 2] == 'Z')
      continue;
    std::string cmdline = read_file(entry.path() / "cmdline");
    if (cmdline.find(needle) != std::string::npos) pids.push_back(std::stoi(name));
  }
  return pids;
}

inline bool wait_for(const std::function<bool()>& condition,
                     std::chrono::seconds limit = std::chrono::seconds(30)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// shoald started directly, its output in `log`; `ready` is its readiness line ("ready", or
// "error …"; empty if it exited without one).
struct Spawned {
  pid_t pid = -1;
  std::string ready;
};

inline Spawned spawn_shoald(const std::vector<std::string>& args, const std::string& log) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    if (fds[1] == 3) ::fcntl(3, F_SETFD, 0);
    else ::dup2(fds[1], 3);
    std::vector<std::string> all = {kShoald, "--ready-fd", "3"};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(kShoald.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  Spawned s{pid, ""};
  char c;
  while (::read(fds[0], &c, 1) == 1 && c != '\n') s.ready.push_back(c);
  ::close(fds[0]);
  return s;
}

// The exit code of a spawned process (-1 if a signal ended it).
inline int wait_exit(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The source tree: relative path → bytes. Directories are implied by the paths, plus the
// explicitly empty ones.
struct Tree {
  std::map<std::string, std::string> files;
  std::vector<std::string> empty_dirs;
};

inline std::string random_bytes(size_t n, std::mt19937_64& random) {
  std::string bytes(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t word = random();
    std::memcpy(bytes.data() + i, &word, std::min<size_t>(8, n - i));
  }
  return bytes;
}

// Nested directories, empty files, one-byte, block-edge, 300 KB and over-chunk files, unicode
// and space-holding names.
inline Tree make_tree() {
  std::mt19937_64 random(7);
  Tree t;
  t.files["README.txt"] = "a shoal test volume\n";
  t.files["empty.bin"] = "";
  t.files["one.bin"] = "x";
  t.files["images/cats/cat-0001.jpg"] = random_bytes(300 * 1000, random);
  t.files["images/cats/cat-0002.jpg"] = random_bytes(4096, random);
  t.files["images/cats/cat-0003.jpg"] = random_bytes(4097, random);
  t.files["images/dogs/dog-0001.jpg"] = random_bytes(300 * 1024, random);
  t.files["images/dogs/empty.jpg"] = "";
  t.files["deep/a/b/c/d/leaf.txt"] = "deep leaf\n";
  t.files["données/café ☕.txt"] = "unicode name\n";
  t.files["données/日本語/ファイル.bin"] = random_bytes(12345, random);
  t.files["big/blob.bin"] = random_bytes(5 * 1024 * 1024 + 123, random);  // chunked fetches
  for (int i = 0; i < 40; ++i)
    t.files["many/file-" + std::to_string(1000 + i) + ".dat"] =
        random_bytes(static_cast<size_t>(random() % 70000), random);
  return t;
}

// A file size skewed small, as in image and sample data sets: 1 B – 200 KB, two thirds of the
// files under 16 KB, about 27 KB on average.
inline size_t skewed_small_size(std::mt19937_64& random) {
  uint64_t pick = random() % 100;
  if (pick < 65) return 1 + random() % 16384;
  if (pick < 92) return 16384 + random() % (65536 - 16384);
  return 65536 + random() % (200001 - 65536);
}

// A volume of many small files: `files` files in `dirs` top-level directories, sizes from
// skewed_small_size. Also what the small tree covers: empty files, names with spaces and
// non-ASCII letters, directories nested three deep, a file over the 4 MiB whole-object limit
// (fetched in chunks). Every directory holds a file directly: s3rver lists a directory only
// when it does (a delimiter listing skips prefixes holding nothing but prefixes), so the tree
// lists correctly there.
inline Tree make_many_files_tree(int files, int dirs) {
  std::mt19937_64 random(11);
  auto dir_name = [](int d) {
    std::string n = (d < 10 ? "d0" : "d") + std::to_string(d);
    if (d % 10 == 3) n += " café ☕";
    if (d % 10 == 4) n += "-日本語";
    return n;
  };
  // Every 25th file of a directory goes one level deeper than the last, three levels at most.
  const std::array<std::string, 3> nested = {"sub/", "sub/deeper/", "sub/deeper/deepest/"};
  Tree t;
  for (int i = 0; i < files; ++i) {
    int in_dir = i / dirs;
    std::string dir = dir_name(i % dirs) + "/";
    if (in_dir % 25 == 24) dir += nested[static_cast<size_t>(in_dir / 25) % nested.size()];
    std::string name = (i % 97 == 5 ? "a name with spaces " : "f-") + std::to_string(10000 + i);
    size_t size = i % 499 == 7 ? 0 : skewed_small_size(random);
    if (i == 1) size = 5 * 1024 * 1024 + 123;
    t.files[dir + name + ".bin"] = random_bytes(size, random);
  }
  return t;
}

inline uint64_t xxh3(const std::string& bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

// Relative path → xxh3 of every file of the tree.
inline std::map<std::string, uint64_t> xxh3_of_tree(const Tree& t) {
  std::map<std::string, uint64_t> hashes;
  for (const auto& [path, bytes] : t.files) hashes[path] = xxh3(bytes);
  return hashes;
}

// Walks `mount` in directory order: relative path → xxh3 of every regular file.
inline std::map<std::string, uint64_t> xxh3_of_walk(const std::string& mount) {
  std::map<std::string, uint64_t> found;
  for (const auto& entry : fs::recursive_directory_iterator(mount))
    if (entry.is_regular_file())
      found[fs::relative(entry.path(), mount).string()] = xxh3(read_file(entry.path()));
  return found;
}

// "" when `found` holds exactly the expected files with the expected xxh3s; otherwise the
// first few differences (a full dump of thousands of entries would bury them).
inline std::string walk_differences(const std::map<std::string, uint64_t>& expected,
                                    const std::map<std::string, uint64_t>& found) {
  std::ostringstream out;
  int shown = 0;
  auto note = [&](const std::string& what) {
    if (shown++ < 10) out << what << "\n";
  };
  for (const auto& [path, hash] : expected) {
    auto it = found.find(path);
    if (it == found.end()) note("missing: " + path);
    else if (it->second != hash) note("xxh3 differs: " + path);
  }
  for (const auto& [path, hash] : found)
    if (!expected.contains(path)) note("not in the source: " + path);
  if (shown > 10) out << "… " << shown - 10 << " more\n";
  return out.str();
}

// Reads every expected file under `mount` from `threads` threads, which share one queue of the
// paths in random order (each file is read once); returns the paths whose xxh3 differs.
inline std::vector<std::string> mismatches_in_random_order(
    const std::map<std::string, uint64_t>& expected, const std::string& mount, int threads) {
  std::vector<std::string> order;
  for (const auto& [path, hash] : expected) order.push_back(path);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(3));
  std::atomic<size_t> next{0};
  std::vector<std::vector<std::string>> bad(static_cast<size_t>(threads));
  std::vector<std::thread> readers;
  for (int r = 0; r < threads; ++r)
    readers.emplace_back([&, r] {
      for (size_t i; (i = next++) < order.size();)
        if (xxh3(read_file(mount + "/" + order[i])) != expected.at(order[i]))
          bad[static_cast<size_t>(r)].push_back(order[i]);
    });
  for (std::thread& reader : readers) reader.join();
  std::vector<std::string> all;
  for (const auto& some : bad) all.insert(all.end(), some.begin(), some.end());
  return all;
}

// PUTs every file of `t` to `bucket` on `server` under `prefix`, 64 requests in flight.
// Returns an inventory manifest (key,size,etag,mtime) of what was uploaded.
inline Result<std::string> upload_tree(const S3rver& server, const std::string& bucket,
                                       const Tree& t, const std::string& prefix) {
  ObjectUri uri;
  uri.scheme = ObjectUri::Scheme::kS3;
  uri.bucket = bucket;
  PollReactor loop;
  auto store = open_store(uri, server.config(), loop);
  if (!store.ok()) return store.error();
  std::vector<const std::pair<const std::string, std::string>*> files;
  for (const auto& file : t.files) files.push_back(&file);
  std::vector<std::string> etags(files.size());
  size_t next = 0, finished = 0;
  std::optional<Error> failure;
  std::function<void()> issue = [&] {
    if (next >= files.size()) return;
    size_t i = next++;
    (*store)->put(prefix + files[i]->first, Body::from_string(files[i]->second),
                  [&, i](Result<PutReply> put) {
                    ++finished;
                    if (put.ok()) etags[i] = put->etag;
                    else if (!failure) failure = put.error();
                    issue();
                  });
  };
  for (int i = 0; i < 64; ++i) issue();
  if (!loop.run_until([&] { return finished == files.size(); }))
    return Error(ErrorKind::kInternal, "the reactor went idle while uploading");
  if (failure) return *failure;
  std::string manifest = "key,size,etag,mtime\n";
  for (size_t i = 0; i < files.size(); ++i) {
    std::erase(etags[i], '"');
    manifest += "\"" + prefix + files[i]->first + "\"," + std::to_string(files[i]->second.size()) +
                ",\"" + etags[i] + "\",2026-01-01T00:00:00Z\n";
  }
  return manifest;
}

inline void write_tree(const Tree& t, const std::string& root) {
  for (const auto& [path, bytes] : t.files) {
    fs::create_directories(fs::path(root + "/" + path).parent_path());
    std::ofstream(root + "/" + path, std::ios::binary) << bytes;
  }
  for (const std::string& dir : t.empty_dirs) fs::create_directories(root + "/" + dir);
}

// Every file of the tree and nothing else, byte for byte, and the same directories.
inline void expect_same_tree(const Tree& t, const std::string& mount) {
  std::set<std::string> expected_dirs, found_dirs, found_files;
  for (const auto& [path, bytes] : t.files)
    for (fs::path p = fs::path(path).parent_path(); !p.empty(); p = p.parent_path())
      expected_dirs.insert(p.string());
  for (const std::string& dir : t.empty_dirs) expected_dirs.insert(dir);
  for (const auto& entry : fs::recursive_directory_iterator(mount)) {
    std::string rel = fs::relative(entry.path(), mount).string();
    (entry.is_directory() ? found_dirs : found_files).insert(rel);
  }
  EXPECT_EQ(found_dirs, expected_dirs);
  std::set<std::string> expected_files;
  for (const auto& [path, bytes] : t.files) {
    expected_files.insert(path);
    std::string got = read_file(mount + "/" + path);
    EXPECT_EQ(got.size(), bytes.size()) << path;
    EXPECT_TRUE(got == bytes) << path << " differs from the source";
  }
  EXPECT_EQ(found_files, expected_files);
}

// The value of an unlabelled series in Prometheus text ("-1" when absent).
inline double metric(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with(name + " ")) return std::stod(line.substr(name.size() + 1));
  return -1;
}

// A test's private world: a temporary directory with the source tree, a mount point, and its
// own run and index directories (exported for the tools it runs). TearDown undoes whatever a
// failed test left: it unmounts, detaches loops and kills daemons that mention its directory.
class MountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.empty()) << "mkdtemp: " << std::strerror(errno);
    ASSERT_EQ(::geteuid(), 0u) << "these tests mount file systems: run them as root";
    ASSERT_TRUE(fs::exists(kShoal)) << kShoal << " is missing: build the `shoal` target";
    ASSERT_TRUE(fs::exists(kShoald)) << kShoald << " is missing: build the `shoald` target";
    ASSERT_EQ(::access("/dev/fuse", R_OK | W_OK), 0) << "/dev/fuse is missing: modprobe fuse";
    ASSERT_EQ(::access("/dev/loop-control", R_OK | W_OK), 0) << "no loop devices: modprobe loop";
    source_ = dir_ + "/source";
    mountpoint_ = dir_ + "/mnt";
    fs::create_directories(mountpoint_);
    ::setenv("SHOAL_RUN_DIR", (dir_ + "/run").c_str(), 1);
    ::setenv("SHOAL_INDEX_DIR", (dir_ + "/indexes").c_str(), 1);
  }

  // The directory itself goes with temp_, after this has emptied it of mounts and users.
  void TearDown() override {
    if (dir_.empty()) return;
    test::unmount_all_under(dir_);
    for (pid_t pid : daemons_mentioning(dir_)) ::kill(pid, SIGKILL);
    test::detach_loop_devices_under(dir_);
  }

  // Nothing of a mount left: no mount, no loop device, no daemon, no state.
  void expect_nothing_left() {
    EXPECT_EQ(test::mount_points_under(dir_), std::vector<std::string>{}) << "mounts left behind";
    EXPECT_TRUE(test::loop_devices_under(dir_).empty()) << "loop devices left behind";
    EXPECT_TRUE(daemons_mentioning(dir_).empty()) << "shoald left running";
    EXPECT_TRUE(!fs::exists(dir_ + "/run") || fs::is_empty(dir_ + "/run"))
        << "state left in " << dir_ << "/run";
  }

  CommandResult shoal(const std::string& args) { return run(kShoal + " " + args); }

  // An index of the source tree (file://) in the test's directory.
  std::string build_index() {
    std::string index = dir_ + "/volume.shix";
    CommandResult built = shoal("index build file://" + source_ + " -o " + index);
    EXPECT_EQ(built.exit_code, 0) << built.output;
    return index;
  }

  // A value of the (one) mount's state.toml, e.g. "control_socket" or "log"; "" when absent.
  std::string mount_state(const std::string& key) {
    for (const auto& entry : fs::directory_iterator(dir_ + "/run")) {
      std::string state = "\n" + read_file(entry.path() / "state.toml");
      size_t at = state.find("\n" + key + " = '");
      if (at == std::string::npos) continue;
      at += key.size() + 5;
      return state.substr(at, state.find('\'', at) - at);
    }
    return "";
  }

  test::TempDir temp_{"shoal-mount"};
  std::string dir_{temp_.path()};
  std::string source_;
  std::string mountpoint_;
};

}  // namespace shoal::mount_test
