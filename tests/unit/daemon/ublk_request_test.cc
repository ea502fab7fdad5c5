// The ublk request core without the kernel: descriptors as the driver writes them, answered
// through the commit callback. Reads past the end and writes are refused; reads complete
// independently (a slow tag does not hold the others); an abandoned handler commits nothing.
// Also: the frontend's clear errors for a missing /dev/ublk-control and for bad queue settings.
#include "daemon/frontends/ublk_request.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "common/poll_reactor.h"
#include "daemon/frontends/frontend.h"

namespace shoal {
namespace {

constexpr uint64_t kDeviceBytes = 1 << 20;
constexpr uint32_t kMaxIo = 64 * 1024;

uint8_t pattern(uint64_t offset) { return static_cast<uint8_t>(offset * 13 + offset / 4096); }

ublksrv_io_desc desc(uint8_t op, uint64_t sector, uint32_t sectors) {
  ublksrv_io_desc d{};
  d.op_flags = op;
  d.start_sector = sector;
  d.nr_sectors = sectors;
  return d;
}

// Holds reads until the test completes them, in any order.
class HeldDevice : public BlockDevice {
 public:
  struct Read {
    uint64_t offset;
    std::vector<iovec> iov;
    ReadDone done;
  };
  uint64_t size_bytes() const override { return kDeviceBytes; }
  void readv(uint64_t offset, std::span<const iovec> iov, ReadDone done) override {
    held.push_back({offset, {iov.begin(), iov.end()}, std::move(done)});
  }
  void complete(size_t i, Status status = {}) {
    uint64_t at = held[i].offset;
    for (const iovec& v : held[i].iov)
      for (size_t k = 0; k < v.iov_len; ++k) static_cast<uint8_t*>(v.iov_base)[k] = pattern(at++);
    std::exchange(held[i].done, nullptr)(status);
  }
  std::vector<Read> held;
};

TEST(UblkPlan, ReadInsideTheDeviceIsARead) {
  UblkRequestPlan plan = plan_ublk_request(desc(UBLK_IO_OP_READ, 8, 16), kDeviceBytes, kMaxIo);
  EXPECT_TRUE(plan.read);
  EXPECT_EQ(plan.offset, 4096u);
  EXPECT_EQ(plan.length, 8192u);
}

TEST(UblkPlan, ReadEndingExactlyAtTheEndIsAllowed) {
  uint64_t last = kDeviceBytes / 512 - 8;
  UblkRequestPlan plan = plan_ublk_request(desc(UBLK_IO_OP_READ, last, 8), kDeviceBytes, kMaxIo);
  EXPECT_TRUE(plan.read);
  EXPECT_EQ(plan.offset + plan.length, kDeviceBytes);
}

TEST(UblkPlan, OffsetPastTheEndIsEio) {
  for (uint64_t sector : {kDeviceBytes / 512, kDeviceBytes / 512 + 8, uint64_t{1} << 62,
                          ~uint64_t{0} / 2, ~uint64_t{0}}) {
    UblkRequestPlan plan =
        plan_ublk_request(desc(UBLK_IO_OP_READ, sector, 8), kDeviceBytes, kMaxIo);
    EXPECT_FALSE(plan.read) << sector;
    EXPECT_EQ(plan.result, -EIO) << sector;
  }
}

TEST(UblkPlan, ReadStraddlingTheEndIsEio) {
  uint64_t last = kDeviceBytes / 512 - 8;
  UblkRequestPlan plan = plan_ublk_request(desc(UBLK_IO_OP_READ, last, 16), kDeviceBytes, kMaxIo);
  EXPECT_FALSE(plan.read);
  EXPECT_EQ(plan.result, -EIO);
}

TEST(UblkPlan, ReadLongerThanTheTagBufferIsEio) {
  UblkRequestPlan plan =
      plan_ublk_request(desc(UBLK_IO_OP_READ, 0, kMaxIo / 512 + 8), kDeviceBytes, kMaxIo);
  EXPECT_FALSE(plan.read);
  EXPECT_EQ(plan.result, -EIO);
}

TEST(UblkPlan, WritesAreRefusedAsReadOnly) {
  for (uint8_t op :
       {UBLK_IO_OP_WRITE, UBLK_IO_OP_DISCARD, UBLK_IO_OP_WRITE_SAME, UBLK_IO_OP_WRITE_ZEROES}) {
    UblkRequestPlan plan = plan_ublk_request(desc(op, 0, 8), kDeviceBytes, kMaxIo);
    EXPECT_FALSE(plan.read);
    EXPECT_EQ(plan.result, -EROFS) << int(op);
  }
}

TEST(UblkPlan, FlushSucceedsAndUnknownOpsFail) {
  EXPECT_EQ(plan_ublk_request(desc(UBLK_IO_OP_FLUSH, 0, 0), kDeviceBytes, kMaxIo).result, 0);
  UblkRequestPlan unknown = plan_ublk_request(desc(0x7f, 0, 8), kDeviceBytes, kMaxIo);
  EXPECT_FALSE(unknown.read);
  EXPECT_EQ(unknown.result, -EIO);
}

class UblkHandlerTest : public ::testing::Test {
 protected:
  UblkHandlerTest()
      : handler_(device_, kDeviceBytes, kMaxIo,
                 [this](uint16_t tag, int32_t result) {
                   commits_.push_back({tag, result});
                 }),
        buffers_(4, std::vector<uint8_t>(kMaxIo)) {}

  void handle(uint16_t tag, const ublksrv_io_desc& d) {
    handler_.handle(tag, d, buffers_[tag].data(), keep_alive_);
  }

  HeldDevice device_;
  std::vector<std::pair<uint16_t, int32_t>> commits_;
  UblkRequestHandler handler_;
  std::vector<std::vector<uint8_t>> buffers_;
  std::shared_ptr<int> keep_alive_ = std::make_shared<int>(0);
};

TEST_F(UblkHandlerTest, ReadsCommitInCompletionOrderWithTheBytes) {
  handle(0, desc(UBLK_IO_OP_READ, 0, 8));
  handle(1, desc(UBLK_IO_OP_READ, 64, 16));
  ASSERT_EQ(device_.held.size(), 2u);
  EXPECT_TRUE(commits_.empty());
  EXPECT_EQ(handler_.reads_in_flight(), 2u);

  device_.complete(1);  // the slow tag 0 does not hold tag 1 back
  ASSERT_EQ(commits_.size(), 1u);
  EXPECT_EQ(commits_[0], std::make_pair(uint16_t{1}, int32_t{8192}));
  for (size_t i = 0; i < 8192; ++i) ASSERT_EQ(buffers_[1][i], pattern(64 * 512 + i)) << i;

  device_.complete(0);
  ASSERT_EQ(commits_.size(), 2u);
  EXPECT_EQ(commits_[1], std::make_pair(uint16_t{0}, int32_t{4096}));
  EXPECT_EQ(handler_.reads_in_flight(), 0u);
}

TEST_F(UblkHandlerTest, RefusalsCommitAtOnceWithoutReading) {
  handle(2, desc(UBLK_IO_OP_READ, kDeviceBytes / 512, 8));
  handle(3, desc(UBLK_IO_OP_WRITE, 0, 8));
  EXPECT_TRUE(device_.held.empty());
  ASSERT_EQ(commits_.size(), 2u);
  EXPECT_EQ(commits_[0], std::make_pair(uint16_t{2}, int32_t{-EIO}));
  EXPECT_EQ(commits_[1], std::make_pair(uint16_t{3}, int32_t{-EROFS}));
}

TEST_F(UblkHandlerTest, AFailedReadCommitsEio) {
  handle(0, desc(UBLK_IO_OP_READ, 0, 8));
  device_.complete(0, Error(ErrorKind::kNetwork, "store unreachable"));
  ASSERT_EQ(commits_.size(), 1u);
  EXPECT_EQ(commits_[0].second, -EIO);
}

TEST_F(UblkHandlerTest, AbandonedReadsKeepTheirBufferAndCommitNothing) {
  std::weak_ptr<int> watch = keep_alive_;
  handle(0, desc(UBLK_IO_OP_READ, 0, 8));
  keep_alive_.reset();
  EXPECT_FALSE(watch.expired()) << "the read in flight must hold the buffers";
  handler_.abandon();
  device_.complete(0);
  EXPECT_TRUE(commits_.empty());
  EXPECT_TRUE(watch.expired());
}

TEST(UblkFrontend, MissingControlDeviceIsAClearError) {
  PollReactor loop;
  HeldDevice device;
  FrontendOptions options;
  options.ublk.control_path = "/nonexistent/ublk-control";
  auto frontend = make_frontend("ublk", options, loop, device);
  ASSERT_TRUE(frontend.ok());
  Status status = (*frontend)->start();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("/nonexistent/ublk-control"), std::string::npos);
  EXPECT_NE(status.error().message.find("modprobe ublk_drv"), std::string::npos)
      << status.error().message;
  (*frontend)->stop();
  EXPECT_EQ((*frontend)->describe(), "ublk (not started)");
}

// Settings are checked before the control device is opened, so they are reported as what they
// are on any host (this one has no ublk_drv: the control path would fail otherwise).
TEST(UblkFrontend, BadQueueSettingsAreRefusedBeforeTheKernel) {
  PollReactor loop;
  HeldDevice device;
  struct Case {
    uint16_t queues;
    uint16_t depth;
    uint32_t max_io;
    const char* message;
  };
  for (const Case& c : {Case{0, 128, 512 * 1024, "ublk queues must be 1 to 4096, not 0"},
                        Case{4097, 128, 512 * 1024, "ublk queues must be 1 to 4096, not 4097"},
                        Case{1, 0, 512 * 1024, "ublk queue depth must be 1 to 4096, not 0"},
                        Case{1, 4097, 512 * 1024, "ublk queue depth must be 1 to 4096, not 4097"},
                        Case{1, 128, 1000, "multiple of 4096"}}) {
    FrontendOptions options;
    options.ublk.control_path = "/nonexistent/ublk-control";
    options.ublk.queues = c.queues;
    options.ublk.queue_depth = c.depth;
    options.ublk.max_io_bytes = c.max_io;
    auto frontend = make_frontend("ublk", options, loop, device);
    ASSERT_TRUE(frontend.ok());
    Status status = (*frontend)->start();
    ASSERT_FALSE(status.ok()) << c.message;
    EXPECT_EQ(status.error().kind, ErrorKind::kInvalidArgument) << status.error().describe();
    EXPECT_NE(status.error().message.find(c.message), std::string::npos)
        << status.error().message;
    EXPECT_FALSE((*frontend)->ready_pending());
  }
}

}  // namespace
}  // namespace shoal
