// A real `shoal mount` (shoald, FUSE image, loop device, EROFS) read continuously while its
// keys expire every 5 s: the volume config's [store] table picks the ECS RAM role of the fake
// metadata service (tests/support/fake_credentials.h), and the store verifies every GET's
// SigV4 signature and accepts only issued, unexpired keys. A small cache, direct mode and
// dropped page-cache pages make the reads keep reaching the store. Every read must return the
// right bytes, no request may go out with expired keys, and shoald must log no error.
#include "common/control.h"
#include "integration/daemon/mount_harness.h"
#include "store/hash.h"
#include "tests/support/fake_credentials.h"

namespace shoal::mount_test {
namespace {

using namespace std::chrono_literals;

constexpr auto kLifetime = 5s;

class MountCredentialsTest : public MountTest {
 protected:
  void SetUp() override {
    MountTest::SetUp();
    if (HasFatalFailure()) return;
    std::mt19937_64 random(11);
    std::string manifest = "key,size,etag,mtime\n";
    for (int i = 0; i < 64; ++i) {
      std::string path = "dir" + std::to_string(i % 4) + "/f" + std::to_string(i) + ".bin";
      std::string bytes = random_bytes(60000 + (random() % 60000), random);
      store_.put_object("data/" + path, bytes);
      manifest += "\"data/" + path + "\"," + std::to_string(bytes.size()) + ",\"" +
                  hex_encode(md5(bytes)) + "\",2026-01-01T00:00:00Z\n";
      files_[path] = xxh3(bytes);
    }
    std::ofstream(dir_ + "/inventory.csv") << manifest;
    config_ = dir_ + "/volume.toml";
    std::ofstream(config_) << "[store]\ncredentials = \"ecs-ram-role\"\nmetadata_endpoint = \""
                           << metadata_.endpoint()
                           << "\"\nmetadata_role = \"shoal-test-role\"\nretries = 3\n"
                           << "[fetch]\nwhole_object_max = \"256KiB\"\nchunk_size = \"128KiB\"\n";
    store_flags_ =
        " --config " + config_ + " --endpoint " + store_.endpoint() + " --region us-east-1";
  }

  // Reads every file once, in random order, from the daemon (the page cache dropped first).
  std::vector<std::string> read_pass(std::mt19937_64& random) {
    std::vector<std::string> paths;
    for (const auto& [path, hash] : files_) paths.push_back(path);
    std::shuffle(paths.begin(), paths.end(), random);
    std::vector<std::string> bad;
    for (const std::string& path : paths) {
      std::string full = mountpoint_ + "/" + path;
      int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        bad.push_back(path + ": open: " + std::strerror(errno));
        continue;
      }
      ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      std::string bytes;
      char buf[65536];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) bytes.append(buf, static_cast<size_t>(n));
      int err = n < 0 ? errno : 0;
      ::close(fd);
      if (err != 0) bad.push_back(path + ": read: " + std::strerror(err));
      else if (xxh3(bytes) != files_[path]) bad.push_back(path + ": wrong bytes");
    }
    return bad;
  }

  test::IssuedKeys keys_;
  test::FakeCredentialServer metadata_{keys_, {.lifetime = kLifetime}};
  test::VerifyingStore store_{keys_};
  std::map<std::string, uint64_t> files_;
  std::string config_;
  std::string store_flags_;
};

TEST_F(MountCredentialsTest, AMountReadsAcrossSeveralExpiriesAndLosesNothing) {
  std::string index = dir_ + "/volume.shix";
  CommandResult built = shoal("index build s3://bkt/data/ --from-manifest " + dir_ +
                              "/inventory.csv -o " + index + store_flags_);
  ASSERT_EQ(built.exit_code, 0) << built.output;
  CommandResult mounted = shoal("mount " + index + " " + mountpoint_ + store_flags_ +
                                " --cache-memory 2MiB --prefetch none");
  ASSERT_EQ(mounted.exit_code, 0) << mounted.output;
  std::string log = mount_state("log");

  std::mt19937_64 random(5);
  std::vector<std::string> bad;
  int passes = 0;
  int gets_before = store_.accepted();
  auto end = std::chrono::steady_clock::now() + kLifetime * 3;
  while (std::chrono::steady_clock::now() < end) {
    auto more = read_pass(random);
    bad.insert(bad.end(), more.begin(), more.end());
    ++passes;
  }
  EXPECT_TRUE(bad.empty()) << bad.size() << " reads failed, the first: " << bad.front();
  EXPECT_GT(store_.accepted() - gets_before, passes * 8) << "the reads did not reach the store";
  EXPECT_GE(keys_.issued(), 3) << "shoald's keys were not refreshed";
  EXPECT_TRUE(store_.refusals().empty()) << "refused: " << store_.refusals().front();
  CommandResult stats = shoal("stats " + mountpoint_);
  ASSERT_EQ(stats.exit_code, 0) << stats.output;
  EXPECT_EQ(metric(stats.output, "shoal_engine_get_errors_total"), 0) << stats.output;
  auto status = control_request(mount_state("control_socket"), {"status"}, {}, 30s);
  ASSERT_TRUE(status.ok()) << status.error().describe();
  std::string shown = status->body;
  for (const auto& [name, value] : status->fields) shown += name + "=" + value + "\n";
  for (const char* secret : {"secret-", "token-"}) {
    EXPECT_EQ(shown.find(secret), std::string::npos) << shown;
    EXPECT_EQ(stats.output.find(secret), std::string::npos) << stats.output;
    EXPECT_EQ(read_file(log).find(secret), std::string::npos) << "a secret in shoald's log";
  }
  EXPECT_EQ(read_file(log).find("] error: "), std::string::npos) << read_file(log);
  CommandResult unmounted = shoal("umount " + mountpoint_);
  ASSERT_EQ(unmounted.exit_code, 0) << unmounted.output;
  expect_nothing_left();
}

}  // namespace
}  // namespace shoal::mount_test
