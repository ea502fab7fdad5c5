// The FUSE-image frontend on a real FUSE mount: one read-only file with the device's size and
// bytes, a directory listing with just that file, writes refused, device errors as EIO, a clean
// unmount on stop(), and clear errors for a missing /dev/fuse or a bad mount point.
//
// The frontend runs on a PollReactor on the test thread; file system calls run on a helper
// thread while the test thread pumps the loop (serve_while). Needs root and /dev/fuse; fails
// loudly without them.
#include "daemon/frontends/fuse_image.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "common/poll_reactor.h"
#include "support/files.h"
#include "support/mounts.h"
#include "support/pattern_device.h"
#include "support/serve_while.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

using test::matches_pattern;
using test::mounted_type;
using test::PatternDevice;
using test::pread_range;

constexpr uint64_t kDeviceSize = 5 * 1024 * 1024 + 4096 * 3;

class FuseImageTest : public ::testing::Test {
 protected:
  FuseImageTest() : device_(loop_, kDeviceSize) {}

  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test mounts FUSE: run it as root";
    ASSERT_EQ(access("/dev/fuse", R_OK | W_OK), 0) << "/dev/fuse is missing: modprobe fuse";
    ASSERT_FALSE(dir_.path().empty());
    options_.fuse.mount_point = dir_.path();
  }
  void TearDown() override {
    if (frontend_ != nullptr) frontend_->stop();
  }

  void start() {
    frontend_ = std::make_unique<FuseImage>(options_, loop_, device_);
    Status started = frontend_->start();
    ASSERT_TRUE(started.ok()) << started.error().describe();
  }
  // Runs file system calls on a helper thread while this thread serves them.
  void serve_while(const std::function<void()>& script) { test::serve_while(loop_, script); }

  PollReactor loop_;
  PatternDevice device_;
  test::TempDir dir_{"shoal-fuse"};
  FrontendOptions options_;
  std::unique_ptr<FuseImage> frontend_;
};

TEST_F(FuseImageTest, ExposesOneReadOnlyFileWithTheDeviceBytes) {
  options_.fuse.image_name = "disk.img";
  start();
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_TRUE(frontend_->serving());
  EXPECT_EQ(frontend_->image_path(), dir_.path() + "/disk.img");
  EXPECT_EQ(mounted_type(dir_.path()), "fuse.shoal");
  serve_while([&] {
    struct stat st {};
    ASSERT_EQ(stat(frontend_->image_path().c_str(), &st), 0) << std::strerror(errno);
    EXPECT_EQ(st.st_mode, S_IFREG | 0444);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), kDeviceSize);
    ASSERT_EQ(stat(dir_.path().c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));

    std::vector<std::string> names;
    DIR* dir = opendir(dir_.path().c_str());
    ASSERT_NE(dir, nullptr) << std::strerror(errno);
    while (dirent* entry = readdir(dir)) names.emplace_back(entry->d_name);
    closedir(dir);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{".", "..", "disk.img"}));
    EXPECT_NE(stat((dir_.path() + "/image").c_str(), &st), 0);
    EXPECT_EQ(errno, ENOENT);

    int fd = open(frontend_->image_path().c_str(), O_RDONLY);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    for (auto [offset, length] : std::vector<std::pair<uint64_t, size_t>>{
             {0, 4096}, {1, 3}, {65536 + 17, 300000}, {kDeviceSize - 5, 5}, {0, kDeviceSize}}) {
      std::vector<uint8_t> bytes = pread_range(fd, offset, length);
      EXPECT_EQ(bytes.size(), length) << "at " << offset;
      EXPECT_TRUE(matches_pattern(bytes, offset)) << "at " << offset;
    }
    EXPECT_TRUE(pread_range(fd, kDeviceSize - 10, 100).size() == 10) << "EOF at the device end";
    EXPECT_TRUE(pread_range(fd, kDeviceSize + 4096, 100).empty());
    close(fd);

    EXPECT_LT(open(frontend_->image_path().c_str(), O_RDWR), 0);
    EXPECT_EQ(errno, EROFS);
    EXPECT_LT(open((dir_.path() + "/new").c_str(), O_WRONLY | O_CREAT, 0644), 0);
  });

  frontend_->stop();
  EXPECT_FALSE(frontend_->serving());
  EXPECT_EQ(mounted_type(dir_.path()), "") << "still mounted after stop()";
}

TEST_F(FuseImageTest, DeviceErrorsReachTheReaderAsEio) {
  start();
  ASSERT_FALSE(HasFatalFailure());
  device_.failure = Error(ErrorKind::kPreconditionFailed, "object changed since indexing");
  serve_while([&] {
    int fd = open(frontend_->image_path().c_str(), O_RDONLY);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    int error = 0;
    EXPECT_TRUE(pread_range(fd, 8192, 4096, &error).empty());
    EXPECT_EQ(error, EIO);
    close(fd);
  });
}

TEST_F(FuseImageTest, StopsCleanlyWhenUnmountedFromOutside) {
  start();
  ASSERT_FALSE(HasFatalFailure());
  serve_while([&] { ASSERT_EQ(umount2(dir_.path().c_str(), 0), 0) << std::strerror(errno); });
  EXPECT_TRUE(loop_.run_until([&] { return !frontend_->serving(); }));
  frontend_->stop();
  EXPECT_EQ(mounted_type(dir_.path()), "");
}

TEST_F(FuseImageTest, RefusesABadMountPointOrImageName) {
  options_.fuse.mount_point = dir_.path() + "/absent";
  FuseImage missing(options_, loop_, device_);
  Status s = missing.start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("absent"), std::string::npos);

  std::string file = dir_.path() + "/file";
  std::ofstream(file) << "x";
  options_.fuse.mount_point = file;
  FuseImage not_a_directory(options_, loop_, device_);
  s = not_a_directory.start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("not a directory"), std::string::npos);

  options_.fuse.mount_point = dir_.path();
  options_.fuse.image_name = "a/b";
  FuseImage bad_name(options_, loop_, device_);
  s = bad_name.start();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(mounted_type(dir_.path()), "");
}

// In a child with its own mount namespace, /dev is replaced by an empty tmpfs: the frontend
// must say /dev/fuse is missing and what to do, and mount nothing.
TEST_F(FuseImageTest, SaysSoWhenDevFuseIsMissing) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    std::string report;
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", "/dev", "tmpfs", 0, nullptr) != 0) {
      report = std::string("setup failed: ") + std::strerror(errno);
    } else {
      PollReactor loop;
      PatternDevice device(loop, 4096);
      FuseImage frontend(options_, loop, device);
      Status s = frontend.start();
      report =
          s.ok() ? "started" : std::string(to_string(s.error().kind)) + ": " + s.error().message;
    }
    ssize_t ignored = write(pipe_fds[1], report.data(), report.size());
    (void)ignored;
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string report;
  char buffer[512];
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer, sizeof(buffer))) > 0) report.append(buffer, n);
  close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_EQ(report.rfind("not found: /dev/fuse is missing", 0), 0u) << report;
  EXPECT_NE(report.find("modprobe fuse"), std::string::npos) << report;
  EXPECT_EQ(mounted_type(dir_.path()), "");
}

}  // namespace
}  // namespace shoal
