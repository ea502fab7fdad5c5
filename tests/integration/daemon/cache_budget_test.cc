// The daemon's memory rule through a real `shoal mount`: a data set four times the cache
// budget (64 MiB budget, 256 MiB of files from a file:// source: small files fetched whole and
// large ones in chunks) read twice, every byte correct both times, while shoald's RSS beyond
// the index mapping stays within budget + 64 MiB and the cache's own accounting (resident plus
// in-flight bytes, sampled from the daemon's metrics) within the budget.
//
// How RSS is measured under ASan and UBSan, honestly. Two things of the sanitizer build are not
// the daemon's doing and would not exist in a Release build:
// - ASan's quarantine holds up to 256 MiB of freed blocks away from reuse (to catch
//   use-after-free): shoald runs here with ASAN_OPTIONS that turn it off.
// - The executable's own image: the sanitizers' per-check metadata makes .data ~18 MB and the
//   relocations that fill it ~16 MB, so the instrumented shoald starts at ~60 MiB RSS where a
//   Release one (a 2.3 MB file) starts at ~12 MiB. The resident pages of mappings of the
//   shoald file are therefore left out.
// Everything else counts: the heap, ASan's shadow memory, redzones and allocator metadata,
// the shared libraries, thread stacks. The sample is the sum of Rss over /proc/<pid>/smaps
// minus the Rss of the index file's mapping and of the shoald file's mappings, taken every
// 50 ms while the data is read and once after.
#include "common/control.h"
#include "integration/daemon/mount_harness.h"

namespace shoal::mount_test {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kBudget = 64 * kMiB;
constexpr uint64_t kAllowance = 64 * kMiB;  // the rule's "budget + 64 MiB"

// Resident bytes of process `pid`: all of them, those of the mapping of the index file, and
// those of the mappings of its executable.
struct Resident {
  uint64_t total = 0;
  uint64_t of_index = 0;
  uint64_t of_executable = 0;
};

Resident resident_of(pid_t pid, const std::string& index) {
  std::string proc = "/proc/" + std::to_string(pid);
  std::error_code error;
  std::string executable = fs::read_symlink(proc + "/exe", error).string();
  std::ifstream smaps(proc + "/smaps");
  Resident r;
  uint64_t* owner = nullptr;  // where the current mapping's Rss goes besides the total
  for (std::string line; std::getline(smaps, line);) {
    std::string first = line.substr(0, line.find(' '));
    if (first == "Rss:") {
      uint64_t bytes = std::stoull(line.substr(4)) * 1024;  // "Rss:  1234 kB"
      r.total += bytes;
      if (owner != nullptr) *owner += bytes;
    } else if (!first.ends_with(':')) {  // a mapping's header: "start-end perms … path"
      owner = line.ends_with(" " + index)        ? &r.of_index
              : line.ends_with(" " + executable) ? &r.of_executable
                                                 : nullptr;
    }
  }
  return r;
}

// The source: 1,536 files of 128 KiB (one GET each) and 8 of 8 MiB (1 MiB chunks), 256 MiB.
// Only the xxh3 of each file is kept; the bytes are on disk.
std::map<std::string, uint64_t> write_source(const std::string& root) {
  std::mt19937_64 random(17);
  std::map<std::string, uint64_t> hashes;
  auto add = [&](const std::string& path, size_t size) {
    std::string bytes = random_bytes(size, random);
    fs::create_directories(fs::path(root + "/" + path).parent_path());
    std::ofstream(root + "/" + path, std::ios::binary) << bytes;
    hashes[path] = xxh3(bytes);
  };
  for (int i = 0; i < 1536; ++i)
    add("small/d" + std::to_string(i / 128) + "/s-" + std::to_string(10000 + i) + ".bin",
        128 * 1024);
  for (int i = 0; i < 8; ++i) add("large/l-" + std::to_string(i) + ".bin", 8 * kMiB);
  return hashes;
}

class CacheBudgetTest : public MountTest {
 protected:
  void SetUp() override {
    const char* options = std::getenv("ASAN_OPTIONS");
    saved_asan_options_ = options == nullptr ? std::nullopt : std::optional<std::string>(options);
    std::string ours = "quarantine_size_mb=0:thread_local_quarantine_size_kb=0";
    ::setenv("ASAN_OPTIONS", (options ? std::string(options) + ":" + ours : ours).c_str(), 1);
    MountTest::SetUp();
    if (HasFatalFailure()) return;
    expected_ = write_source(source_);
  }
  void TearDown() override {
    stop_sampling();  // also when a failed assertion left it running
    MountTest::TearDown();
    if (saved_asan_options_) ::setenv("ASAN_OPTIONS", saved_asan_options_->c_str(), 1);
    else ::unsetenv("ASAN_OPTIONS");
  }

  // Samples shoald's RSS beyond `index` and the cache gauges every 50 ms until stopped.
  void start_sampling(pid_t pid, const std::string& index, const std::string& control) {
    sampling_ = true;
    sampler_ = std::thread([this, pid, index, control] {
      while (sampling_) {
        sample(pid, index, control);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  }
  void stop_sampling() {
    sampling_ = false;
    if (sampler_.joinable()) sampler_.join();
  }
  void sample(pid_t pid, const std::string& index, const std::string& control) {
    Resident r = resident_of(pid, index);
    uint64_t counted = r.total - r.of_index - r.of_executable;
    max_rss_ = std::max(max_rss_.load(), counted);
    max_executable_ = std::max(max_executable_.load(), r.of_executable);
    ++samples_;
    auto stats = control_request(control, {"stats"}, {}, std::chrono::seconds(30));
    if (!stats.ok()) return;
    double cache = metric(stats->body, "shoal_engine_cache_bytes") +
                   metric(stats->body, "shoal_engine_cache_inflight_bytes");
    max_cache_bytes_ = std::max(max_cache_bytes_.load(), static_cast<uint64_t>(cache));
  }

  // Drops the page cache of every file of the mount, so the next pass reaches the daemon.
  void drop_page_cache() {
    for (const auto& [path, hash] : expected_) {
      int fd = ::open((mountpoint_ + "/" + path).c_str(), O_RDONLY | O_CLOEXEC);
      ASSERT_GE(fd, 0) << path;
      EXPECT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0) << path;
      ::close(fd);
    }
  }

  double served_bytes(const std::string& control) {
    auto stats = control_request(control, {"stats"}, {}, std::chrono::seconds(30));
    EXPECT_TRUE(stats.ok()) << stats.error().describe();
    return stats.ok() ? metric(stats->body, "shoal_engine_bytes_served_total") : -1;
  }

  std::map<std::string, uint64_t> expected_;
  std::optional<std::string> saved_asan_options_;
  std::thread sampler_;
  std::atomic<bool> sampling_{false};
  std::atomic<uint64_t> max_rss_{0};  // beyond the index and the executable's image
  std::atomic<uint64_t> max_executable_{0};
  std::atomic<uint64_t> max_cache_bytes_{0};
  std::atomic<int> samples_{0};
};

TEST_F(CacheBudgetTest, DataFourTimesTheBudgetReadTwiceKeepsTheMemoryRule) {
  std::string index = dir_ + "/volume.shix";
  CommandResult built = shoal("index build file://" + source_ + " -o " + index);
  ASSERT_EQ(built.exit_code, 0) << built.output;
  CommandResult mounted = shoal("mount " + index + " " + mountpoint_ + " --cache-memory 64MiB");
  ASSERT_EQ(mounted.exit_code, 0) << mounted.output;
  std::vector<pid_t> daemons = daemons_mentioning(dir_);
  ASSERT_EQ(daemons.size(), 1u);
  std::string control = mount_state("control_socket");
  ASSERT_FALSE(control.empty());
  const uint64_t data_bytes = 1536 * 128 * 1024 + 8 * 8 * kMiB;

  start_sampling(daemons[0], index, control);
  // First pass: a walk in layout order (cross-file prefetch and readahead at work).
  std::map<std::string, uint64_t> walked = xxh3_of_walk(mountpoint_);
  EXPECT_EQ(walk_differences(expected_, walked), "") << "in the first pass";
  double after_first = served_bytes(control);
  EXPECT_GE(after_first, static_cast<double>(data_bytes));

  // Second pass: four threads in random order. The data no longer fits the cache, so it
  // comes from the source again (the page cache is dropped so reads reach the daemon).
  ASSERT_NO_FATAL_FAILURE(drop_page_cache());
  std::vector<std::string> bad = mismatches_in_random_order(expected_, mountpoint_, 4);
  EXPECT_TRUE(bad.empty()) << bad.size() << " files differ in the second pass, the first: "
                           << bad.front();
  EXPECT_GE(served_bytes(control) - after_first, static_cast<double>(data_bytes))
      << "the second pass did not reach the daemon";
  stop_sampling();
  sample(daemons[0], index, control);  // and once more after the reads

  EXPECT_GT(samples_.load(), 10);
  EXPECT_LE(max_cache_bytes_.load(), kBudget) << "resident + in-flight bytes over the budget";
  EXPECT_LE(max_rss_.load(), kBudget + kAllowance)
      << "shoald's RSS beyond the index and its executable peaked at " << max_rss_.load() / kMiB
      << " MiB";
  std::printf("shoald peak RSS beyond the index and its executable: %llu MiB (rule: %llu MiB; "
              "the executable's image: %llu MiB)\n",
              static_cast<unsigned long long>(max_rss_.load() / kMiB),
              static_cast<unsigned long long>((kBudget + kAllowance) / kMiB),
              static_cast<unsigned long long>(max_executable_.load() / kMiB));

  CommandResult unmounted = shoal("umount " + mountpoint_);
  ASSERT_EQ(unmounted.exit_code, 0) << unmounted.output;
  expect_nothing_left();
}

}  // namespace
}  // namespace shoal::mount_test
