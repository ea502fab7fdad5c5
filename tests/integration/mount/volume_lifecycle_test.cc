// mount/volume.h driven directly, as the CSI plugin will: a volume started from an index over
// file:// (and from a URI, indexed on the way), attached through the FUSE image and a loop
// device, EROFS mounted, a file read, stats and the listing, teardown leaving nothing behind —
// also after kill -9 of the daemon, and twice in a row.
#include <signal.h>

#include <fstream>

#include "integration/daemon/mount_harness.h"
#include "mount/proc.h"
#include "mount/volume.h"

namespace shoal::mount_test {
namespace {

class VolumeLifecycleTest : public MountTest {
 protected:
  void SetUp() override {
    MountTest::SetUp();
    if (HasFatalFailure()) return;
    tree_ = make_tree();
    write_tree(tree_, source_);
  }

  mount::VolumeSpec spec(const std::string& source) {
    mount::VolumeSpec s;
    s.source = source;
    s.mountpoint = mountpoint_;
    s.frontend = "fuse";  // the host has no ublk; "auto" would pick the same here
    s.cache_memory = 64ull << 20;
    s.shoald = kShoald;
    return s;
  }

  Tree tree_;
};

TEST_F(VolumeLifecycleTest, IndexFileMountsReadsStatsListsAndTearsDown) {
  auto volume = mount::mount_volume(spec(build_index()));
  ASSERT_TRUE(volume.ok()) << volume.error().describe();
  EXPECT_EQ(volume->mountpoint, mount::canonical_path(mountpoint_));
  EXPECT_EQ(volume->frontend, "fuse");
  EXPECT_EQ(volume->attachment, Attachment::kImageFile);
  EXPECT_TRUE(volume->block_device.starts_with("/dev/loop")) << volume->block_device;
  EXPECT_EQ(volume->image, volume->image_dir + "/image");
  EXPECT_TRUE(mount::daemon_alive(volume->pid));
  EXPECT_EQ(test::mounted_type(mountpoint_), "erofs");
  EXPECT_TRUE(test::is_read_only_mount(mountpoint_));
  EXPECT_EQ(read_file(mountpoint_ + "/images/cats/cat-0001.jpg"),
            tree_.files.at("images/cats/cat-0001.jpg"));

  auto stats = mount::volume_stats(mountpoint_);
  ASSERT_TRUE(stats.ok()) << stats.error().describe();
  EXPECT_GT(metric(*stats, "shoal_engine_cache_misses_total"), 0) << *stats;
  EXPECT_EQ(metric(*stats, "shoal_daemon_cache_budget_bytes"), 64.0 * 1024 * 1024) << *stats;

  std::vector<mount::VolumeListing> listed = mount::list_volumes();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state.mountpoint, volume->mountpoint);
  EXPECT_EQ(listed[0].state.pid, volume->pid);
  EXPECT_EQ(listed[0].health, mount::VolumeHealth::kServing);

  auto again = mount::mount_volume(spec(build_index()));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorKind::kInvalidArgument);

  ASSERT_TRUE(mount::unmount_volume(mountpoint_, false).ok());
  expect_nothing_left();
  EXPECT_TRUE(mount::list_volumes().empty());
  EXPECT_TRUE(mount::teardown(*volume, false).ok()) << "teardown is idempotent";
  auto gone = mount::unmount_volume(mountpoint_, false);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ErrorKind::kNotFound);
}

TEST_F(VolumeLifecycleTest, UriIsIndexedOnTheWay) {
  std::string indexed_to;
  mount::MountHooks hooks;
  hooks.indexed = [&](const std::string&, const index::BuildReport& report,
                      const std::string& out) {
    EXPECT_EQ(report.files, tree_.files.size());
    indexed_to = out;
  };
  auto volume = mount::mount_volume(spec("file://" + source_), hooks);
  ASSERT_TRUE(volume.ok()) << volume.error().describe();
  EXPECT_EQ(volume->index, indexed_to);
  EXPECT_TRUE(indexed_to.starts_with(dir_ + "/indexes/")) << indexed_to;
  expect_same_tree(tree_, mountpoint_);
  ASSERT_TRUE(mount::teardown(*volume, false).ok());
  expect_nothing_left();
}

TEST_F(VolumeLifecycleTest, TeardownAfterKillNine) {
  auto volume = mount::mount_volume(spec(build_index()));
  ASSERT_TRUE(volume.ok()) << volume.error().describe();
  ASSERT_EQ(::kill(static_cast<pid_t>(volume->pid), SIGKILL), 0);
  ASSERT_TRUE(wait_for([&] { return !mount::daemon_alive(volume->pid); }));
  std::vector<mount::VolumeListing> listed = mount::list_volumes();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].health, mount::VolumeHealth::kDaemonDead);
  EXPECT_TRUE(is_mounted(volume->image_dir)) << "a dead FUSE daemon leaves its mount";

  auto refused = mount::mount_volume(spec(build_index()));
  ASSERT_FALSE(refused.ok());
  ASSERT_TRUE(mount::unmount_volume(mountpoint_, true).ok());
  expect_nothing_left();
  EXPECT_TRUE(fs::is_empty(mountpoint_));
}

TEST_F(VolumeLifecycleTest, AnUnreadableRecordIsListedNotLeftOut) {
  std::string record = dir_ + "/run/0123456789abcdef";
  fs::create_directories(record);
  std::ofstream(mount::state_file_in(record)) << "mountpoint = [unterminated\n";
  std::vector<mount::VolumeListing> listed = mount::list_volumes();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].health, mount::VolumeHealth::kUnreadable);
  EXPECT_NE(listed[0].problem.find(mount::state_file_in(record)), std::string::npos)
      << listed[0].problem;
  CommandResult volumes = shoal("volumes");
  EXPECT_EQ(volumes.exit_code, 1) << volumes.output;
  EXPECT_NE(volumes.output.find("state.toml"), std::string::npos) << volumes.output;
  fs::remove_all(record);
}

TEST_F(VolumeLifecycleTest, RefusalsLeaveNothing) {
  std::string index = build_index();
  mount::VolumeSpec nbd = spec(index);
  nbd.frontend = "nbd";
  auto refused = mount::mount_volume(nbd);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("attach a client yourself"), std::string::npos)
      << refused.error().message;

  mount::VolumeSpec tiny = spec(index);
  tiny.cache_memory = 1ull << 20;  // below what the engine needs: shoald refuses, with exit 2
  auto too_small = mount::mount_volume(tiny);
  ASSERT_FALSE(too_small.ok());
  EXPECT_EQ(too_small.error().kind, ErrorKind::kInvalidArgument) << too_small.error().describe();
  expect_nothing_left();
}

}  // namespace
}  // namespace shoal::mount_test
