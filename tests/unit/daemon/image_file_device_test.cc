// ImageFileDevice: bytes from the file at any offset and iovec split, completion always posted
// to the reactor (never inline), range errors as kInvalidArgument, missing files as errors.
#include "daemon/image_file_device.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "common/poll_reactor.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

class ImageFileDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.empty()) << "mkdtemp: " << std::strerror(errno);
    path_ = dir_ + "/image";
    bytes_.resize(3 * 4096 + 123);
    for (size_t i = 0; i < bytes_.size(); ++i) bytes_[i] = static_cast<char>(i * 7 + i / 251);
    std::ofstream(path_, std::ios::binary).write(bytes_.data(), static_cast<long>(bytes_.size()));
  }

  // Issues one read and runs the loop until it completes; checks the completion was not inline.
  Status read(ImageFileDevice& device, uint64_t offset, std::vector<iovec> iov) {
    std::optional<Status> result;
    device.readv(offset, iov, [&](Status s) { result = std::move(s); });
    EXPECT_FALSE(result.has_value()) << "readv completed inline";
    EXPECT_TRUE(loop_.run_until([&] { return result.has_value(); }));
    return result.has_value() ? *result : Status(Error(ErrorKind::kInternal, "never completed"));
  }

  test::TempDir temp_{"shoal-image"};
  std::string dir_{temp_.path()};
  PollReactor loop_;
  std::string path_;
  std::vector<char> bytes_;
};

TEST_F(ImageFileDeviceTest, ReportsTheFileSize) {
  auto device = ImageFileDevice::open(path_, loop_);
  ASSERT_TRUE(device.ok()) << device.error().describe();
  EXPECT_EQ((*device)->size_bytes(), bytes_.size());
  EXPECT_EQ((*device)->block_size(), 4096u);
}

TEST_F(ImageFileDeviceTest, ReadsAcrossSeveralBuffers) {
  auto device = ImageFileDevice::open(path_, loop_);
  ASSERT_TRUE(device.ok());
  std::vector<char> a(1000), b(0), c(5000);
  uint64_t offset = 4000;
  Status s = read(**device, offset, {{a.data(), a.size()}, {b.data(), 0}, {c.data(), c.size()}});
  ASSERT_TRUE(s.ok()) << s.error().describe();
  EXPECT_TRUE(std::equal(a.begin(), a.end(), bytes_.begin() + offset));
  EXPECT_TRUE(std::equal(c.begin(), c.end(), bytes_.begin() + offset + a.size()));
}

TEST_F(ImageFileDeviceTest, ReadsTheLastByteAndNothingAtTheEnd) {
  auto device = ImageFileDevice::open(path_, loop_);
  ASSERT_TRUE(device.ok());
  char last = 0;
  ASSERT_TRUE(read(**device, bytes_.size() - 1, {{&last, 1}}).ok());
  EXPECT_EQ(last, bytes_.back());
  EXPECT_TRUE(read(**device, bytes_.size(), {}).ok());
}

TEST_F(ImageFileDeviceTest, RefusesReadsPastTheEnd) {
  auto device = ImageFileDevice::open(path_, loop_);
  ASSERT_TRUE(device.ok());
  std::vector<char> buffer(200);
  Status s = read(**device, bytes_.size() - 100, {{buffer.data(), buffer.size()}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kInvalidArgument);
  s = read(**device, ~uint64_t{0}, {{buffer.data(), 2}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kInvalidArgument);
}

TEST_F(ImageFileDeviceTest, FailsWhenTheFileShrank) {
  auto device = ImageFileDevice::open(path_, loop_);
  ASSERT_TRUE(device.ok());
  ASSERT_EQ(truncate(path_.c_str(), 4096), 0);
  std::vector<char> buffer(4096);
  Status s = read(**device, 8192, {{buffer.data(), buffer.size()}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kIo);
}

TEST_F(ImageFileDeviceTest, MissingFileIsAnError) {
  auto device = ImageFileDevice::open(dir_ + "/absent", loop_);
  ASSERT_FALSE(device.ok());
  EXPECT_EQ(device.error().kind, ErrorKind::kNotFound);
  EXPECT_NE(device.error().message.find("absent"), std::string::npos);
}

}  // namespace
}  // namespace shoal
