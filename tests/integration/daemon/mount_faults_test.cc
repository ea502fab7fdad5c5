// Faults seen through a real `shoal mount` of an s3rver bucket (the end-to-end version of
// engine_s3rver_test's fault test), with a short retry budget from the volume config
// (2 attempts, 10–50 ms backoff) and direct mode, so only what a reader asks for is fetched:
// - s3rver stopped mid-walk: reads of files the daemon has not cached fail with EIO once the
//   store's retries run out (the engine does not wait for the server to return); files in the
//   daemon's cache keep reading, and the daemon keeps serving; s3rver restarted on the same
//   port and data: the files that failed read correctly.
// - an object overwritten after indexing: that file reads EIO, every other file reads
//   correctly, and the daemon's log names the key once.
#include "integration/daemon/mount_harness.h"

namespace shoal::mount_test {
namespace {

constexpr const char* kBucket = "shoal-faults";

// A read of a whole file: its bytes, or the errno of the call that failed.
struct ReadOutcome {
  int error = 0;
  std::string bytes;
};

ReadOutcome read_with_errno(const std::string& path, bool drop_page_cache = false) {
  ReadOutcome out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {errno, ""};
  // Without its pages in the page cache the read reaches the daemon (and its cache).
  if (drop_page_cache) ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.bytes.append(buf, static_cast<size_t>(n));
  if (n < 0) out.error = errno;
  ::close(fd);
  return out;
}

class MountFaultsTest : public MountTest {
 protected:
  void SetUp() override {
    MountTest::SetUp();
    if (HasFatalFailure()) return;
    auto server = S3rver::start({kBucket});
    ASSERT_TRUE(server.ok()) << server.error().describe();
    server_ = std::move(*server);
    tree_ = make_many_files_tree(300, 6);
    auto manifest = upload_tree(*server_, kBucket, tree_, "data/");
    ASSERT_TRUE(manifest.ok()) << manifest.error().describe();
    std::ofstream(dir_ + "/inventory.csv") << *manifest;
    for (const auto& [path, bytes] : tree_.files)
      if (!bytes.empty()) non_empty_.push_back(path);
    ::setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
  }
  void TearDown() override {
    MountTest::TearDown();  // unmount and stop daemons before their server goes
    server_.reset();
    ::unsetenv("AWS_ACCESS_KEY_ID");
    ::unsetenv("AWS_SECRET_ACCESS_KEY");
  }

  // Indexes the uploaded objects from their manifest and mounts them with a short retry
  // budget, in direct mode.
  void mount() {
    std::string index = dir_ + "/volume.shix";
    CommandResult built = shoal("index build s3://" + std::string(kBucket) +
                                "/data/ --from-manifest " + dir_ + "/inventory.csv -o " + index);
    ASSERT_EQ(built.exit_code, 0) << built.output;
    std::string config = dir_ + "/volume.toml";
    std::ofstream(config) << "[store]\nendpoint = \"" << server_->endpoint()
                          << "\"\nregion = \"us-east-1\"\nretries = 2\nretry_base_ms = 10\n"
                          << "retry_cap_ms = 50\nconnect_timeout_ms = 1000\n"
                          << "request_timeout_ms = 5000\n[prefetch]\nmode = \"none\"\n";
    CommandResult mounted = shoal("mount " + index + " " + mountpoint_ + " --config " + config);
    ASSERT_EQ(mounted.exit_code, 0) << mounted.output;
  }

  double stat_of(const std::string& name) {
    CommandResult stats = shoal("stats " + mountpoint_);
    EXPECT_EQ(stats.exit_code, 0) << stats.output;
    return metric(stats.output, name);
  }

  void expect_reads_correctly(const std::string& path, bool drop_page_cache = false) {
    ReadOutcome read = read_with_errno(mountpoint_ + "/" + path, drop_page_cache);
    EXPECT_EQ(read.error, 0) << path << ": " << std::strerror(read.error);
    EXPECT_TRUE(read.bytes == tree_.files.at(path)) << path << " differs from the source";
  }

  void umount_and_check() {
    CommandResult unmounted = shoal("umount " + mountpoint_);
    ASSERT_EQ(unmounted.exit_code, 0) << unmounted.output;
    expect_nothing_left();
  }

  std::unique_ptr<S3rver> server_;
  Tree tree_;
  std::vector<std::string> non_empty_;  // in path order; empty files never reach the store
};

TEST_F(MountFaultsTest, OutageMidWalkFailsUncachedReadsWithEioAndRestartRecovers) {
  ASSERT_NO_FATAL_FAILURE(mount());
  const size_t half = non_empty_.size() / 2;
  for (size_t i = 0; i < half; ++i) expect_reads_correctly(non_empty_[i]);

  server_->stop();
  for (size_t i = half; i < non_empty_.size(); ++i) {
    ReadOutcome read = read_with_errno(mountpoint_ + "/" + non_empty_[i]);
    EXPECT_EQ(read.error, EIO) << non_empty_[i] << " read " << read.bytes.size()
                               << " bytes with the server down";
  }
  // The daemon's cache (not the page cache: it is dropped) still serves the first half.
  double hits_before = stat_of("shoal_engine_cache_hits_total");
  for (size_t i = 0; i < half; i += 10) expect_reads_correctly(non_empty_[i], true);
  EXPECT_GT(stat_of("shoal_engine_cache_hits_total"), hits_before);
  EXPECT_GT(stat_of("shoal_engine_request_errors_total"), 0);
  EXPECT_GT(stat_of("shoal_engine_get_errors_total"), 0);
  EXPECT_EQ(stat_of("shoal_engine_changed_objects_total"), 0) << "an outage is not a change";
  EXPECT_EQ(daemons_mentioning(dir_).size(), 1u) << "shoald stopped serving";

  ASSERT_TRUE(server_->restart().ok());
  for (size_t i = half; i < non_empty_.size(); ++i) expect_reads_correctly(non_empty_[i]);
  EXPECT_EQ(walk_differences(xxh3_of_tree(tree_), xxh3_of_walk(mountpoint_)), "");
  umount_and_check();
}

TEST_F(MountFaultsTest, OverwrittenObjectReadsEioOthersReadAndTheKeyIsLoggedOnce) {
  ASSERT_NO_FATAL_FAILURE(mount());
  const std::string victim = non_empty_[non_empty_.size() / 3];
  Tree overwrite;  // same size, other bytes: the ETag differs and If-Match answers 412
  std::mt19937_64 random(99);
  overwrite.files[victim] = random_bytes(tree_.files.at(victim).size(), random);
  ASSERT_TRUE(upload_tree(*server_, kBucket, overwrite, "data/").ok());

  for (int attempt = 0; attempt < 2; ++attempt) {
    ReadOutcome read = read_with_errno(mountpoint_ + "/" + victim, true);
    EXPECT_EQ(read.error, EIO) << "attempt " << attempt << ": bytes of another version served?";
  }
  for (const std::string& path : non_empty_)
    if (path != victim) expect_reads_correctly(path);
  EXPECT_EQ(stat_of("shoal_engine_changed_objects_total"), 1);

  std::istringstream log(read_file(mount_state("log")));
  const std::string key = "data/" + victim;
  int lines_naming_it = 0;
  for (std::string line; std::getline(log, line);) lines_naming_it += line.find(key) != line.npos;
  EXPECT_EQ(lines_naming_it, 1) << read_file(mount_state("log"));
  umount_and_check();
}

}  // namespace
}  // namespace shoal::mount_test
