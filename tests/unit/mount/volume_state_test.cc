// The volume record: a round trip through the TOML text and through a file, records of earlier
// versions (fuse_dir, no attach key), and the refusals.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "mount/volume_state.h"
#include "support/temp_dir.h"

namespace shoal::mount {
namespace {

VolumeState sample() {
  VolumeState s;
  s.mountpoint = "/mnt/train data";
  s.pid = 4242;
  s.frontend = "fuse";
  s.attachment = Attachment::kImageFile;
  s.image_dir = "/run/shoal/abc/image";
  s.image = "/run/shoal/abc/image/image";
  s.block_device = "/dev/loop7";
  s.control_socket = "/run/shoal/abc/control.sock";
  s.log = "/run/shoal/abc/shoald.log";
  s.index = "/var/lib/shoal/x.shix";
  s.source = "s3://bucket/train/ 'quoted'";
  return s;
}

void expect_same(const VolumeState& a, const VolumeState& b) {
  EXPECT_EQ(a.mountpoint, b.mountpoint);
  EXPECT_EQ(a.pid, b.pid);
  EXPECT_EQ(a.frontend, b.frontend);
  EXPECT_EQ(a.attachment, b.attachment);
  EXPECT_EQ(a.image_dir, b.image_dir);
  EXPECT_EQ(a.image, b.image);
  EXPECT_EQ(a.block_device, b.block_device);
  EXPECT_EQ(a.control_socket, b.control_socket);
  EXPECT_EQ(a.log, b.log);
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.source, b.source);
}

TEST(VolumeState, RoundTripsThroughText) {
  VolumeState s = sample();
  auto parsed = parse_state(format_state(s), "state.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.error().describe();
  expect_same(*parsed, s);

  s.frontend = "ublk";
  s.attachment = Attachment::kBlockDevice;
  s.image_dir.clear();
  s.image.clear();
  s.block_device = "/dev/ublkb3";
  parsed = parse_state(format_state(s), "state.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.error().describe();
  expect_same(*parsed, s);
}

TEST(VolumeState, RoundTripsThroughAFileReplacedWhole) {
  test::TempDir dir("volume-state");
  std::string path = dir.path() + "/state.toml";
  ASSERT_TRUE(save_state(path, sample()).ok());
  VolumeState changed = sample();
  changed.pid = 7;
  ASSERT_TRUE(save_state(path, changed).ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  auto loaded = load_state(path);
  ASSERT_TRUE(loaded.ok()) << loaded.error().describe();
  expect_same(*loaded, changed);
  auto missing = load_state(dir.path() + "/none.toml");
  EXPECT_FALSE(missing.ok());
}

TEST(VolumeState, ReadsRecordsOfEarlierVersions) {
  auto old_fuse = parse_state(
      "mountpoint = '/mnt/a'\npid = 9\nfrontend = 'fuse'\n"
      "fuse_dir = '/run/shoal/x/fuse'\nimage = '/run/shoal/x/fuse/image'\n"
      "block_device = '/dev/loop1'\n",
      "old.toml");
  ASSERT_TRUE(old_fuse.ok()) << old_fuse.error().describe();
  EXPECT_EQ(old_fuse->attachment, Attachment::kImageFile);
  EXPECT_EQ(old_fuse->image_dir, "/run/shoal/x/fuse");
  auto old_ublk = parse_state("mountpoint = '/mnt/a'\nfrontend = 'ublk'\n", "old.toml");
  ASSERT_TRUE(old_ublk.ok()) << old_ublk.error().describe();
  EXPECT_EQ(old_ublk->attachment, Attachment::kBlockDevice);
}

TEST(VolumeState, RefusesDamagedRecords) {
  auto garbage = parse_state("mountpoint = ", "bad.toml");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().kind, ErrorKind::kCorrupt);
  EXPECT_NE(garbage.error().message.find("bad.toml"), std::string::npos);
  EXPECT_FALSE(parse_state("pid = 3\n", "bad.toml").ok()) << "no mount point";
  EXPECT_FALSE(parse_state("mountpoint = '/m'\nattach = 'floppy'\n", "bad.toml").ok());
}

TEST(VolumeState, StateDirectoryIsPerMountPointUnderTheRunDirectory) {
  ::setenv("SHOAL_RUN_DIR", "/tmp/shoal-run-test", 1);
  EXPECT_EQ(run_dir(), "/tmp/shoal-run-test");
  std::string a = state_dir_of("/mnt/a"), b = state_dir_of("/mnt/b");
  EXPECT_TRUE(a.starts_with("/tmp/shoal-run-test/")) << a;
  EXPECT_NE(a, b);
  EXPECT_EQ(a, state_dir_of("/mnt/a"));
  EXPECT_EQ(hex_hash("x").size(), 16u);
  ::unsetenv("SHOAL_RUN_DIR");
  EXPECT_EQ(run_dir(), "/run/shoal");
}

}  // namespace
}  // namespace shoal::mount
