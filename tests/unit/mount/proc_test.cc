// /proc parsing from given text: mountinfo lines (escaped names, optional fields, malformed
// lines) and /proc/<pid>/stat lines (zombies, other programs, names with parentheses).
#include <gtest/gtest.h>

#include "mount/proc.h"

namespace shoal::mount {
namespace {

constexpr const char* kMountinfo =
    "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
    "35 22 0:31 / /proc rw,nosuid - proc proc rw\n"
    "80 22 0:45 / /run/shoal/abc/image rw,nosuid,nodev shared:40 master:2 - fuse.shoal shoal "
    "ro,user_id=0\n"
    "81 22 7:3 / /mnt/train\\040data ro,nodev,nosuid - erofs /dev/loop3 ro\n"
    "garbage\n"
    "90 22 0:50 / /mnt/back\\134slash rw - tmpfs none rw\n";

TEST(Mountinfo, ParsesEntriesAndUnescapesNames) {
  std::vector<MountEntry> mounts = parse_mountinfo(kMountinfo);
  ASSERT_EQ(mounts.size(), 5u) << "the malformed line is skipped";
  EXPECT_EQ(mounts[0].mount_point, "/");
  EXPECT_EQ(mounts[0].fs_type, "ext4");
  EXPECT_EQ(mounts[2].mount_point, "/run/shoal/abc/image");
  EXPECT_EQ(mounts[2].fs_type, "fuse.shoal") << "optional fields before the separator";
  EXPECT_EQ(mounts[3].mount_point, "/mnt/train data");
  EXPECT_EQ(mounts[3].fs_type, "erofs");
  EXPECT_EQ(mounts[3].source, "/dev/loop3");
  EXPECT_EQ(mounts[4].mount_point, "/mnt/back\\slash");
}

TEST(Mountinfo, FindsExactMountPointsOnly) {
  std::vector<MountEntry> mounts = parse_mountinfo(kMountinfo);
  EXPECT_TRUE(is_mount_point("/mnt/train data", mounts));
  EXPECT_TRUE(is_mount_point("/proc", mounts));
  EXPECT_FALSE(is_mount_point("/mnt", mounts));
  EXPECT_FALSE(is_mount_point("/mnt/train", mounts));
  EXPECT_FALSE(is_mount_point("/mnt/train\\040data", mounts));
  EXPECT_TRUE(is_mount_point("/")) << "this process's own mountinfo has the root";
}

TEST(Mountinfo, CanonicalPathsHaveNoTrailingSlashOrDots) {
  EXPECT_EQ(canonical_path("/"), "/");
  EXPECT_EQ(canonical_path("/no/such/dir/../x/"), "/no/such/x");
  EXPECT_EQ(canonical_path("/proc/self/.."), "/proc");
}

TEST(ProcStat, TellsALiveShoaldFromZombiesAndOthers) {
  EXPECT_TRUE(is_live_shoald_stat("4242 (shoald) S 1 4242 4242 0 -1 4194560 …"));
  EXPECT_TRUE(is_live_shoald_stat("4242 (shoald) R 1 4242"));
  EXPECT_FALSE(is_live_shoald_stat("4242 (shoald) Z 1 4242")) << "a zombie is dead";
  EXPECT_FALSE(is_live_shoald_stat("4242 (shoald) X 1 4242"));
  EXPECT_FALSE(is_live_shoald_stat("4242 (bash) S 1 4242")) << "a recycled pid";
  EXPECT_FALSE(is_live_shoald_stat("4242 (not shoald) S 1"));
  EXPECT_FALSE(is_live_shoald_stat("4242 (a) (shoald) S 1")) << "comm is everything in the parens";
  EXPECT_FALSE(is_live_shoald_stat(""));
  EXPECT_FALSE(is_live_shoald_stat("4242 (shoald)"));
  EXPECT_FALSE(daemon_alive(0));
  EXPECT_FALSE(daemon_alive(-1));
  EXPECT_FALSE(daemon_alive(static_cast<int64_t>(::getpid()))) << "the test is not shoald";
}

}  // namespace
}  // namespace shoal::mount
