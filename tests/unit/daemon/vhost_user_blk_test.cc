// vhost-user-blk without QEMU. The virtqueue and virtio-blk layers get hand-made rings in a block
// of "guest RAM": reads land in guest memory, writes get IOERR, GET_ID the serial; chains that
// point outside guest memory, loop, or misuse indirect tables are refused without being
// followed. The protocol layer gets messages over a socketpair with a memfd as guest RAM:
// messages out of order, bad memory tables, the whole path from SET_MEM_TABLE to a served read,
// GET_VRING_BASE, and a fresh connection after the first one closed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/poll_reactor.h"
#include "common/reactor.h"
#include "daemon/block_device.h"
#include "daemon/frontends/frontend.h"
#include "daemon/frontends/vhost_user_blk.h"

#include "common/fd_passing.h"
#include "daemon/frontends/vhost_user_protocol.h"
#include "daemon/frontends/virtio_blk.h"
#include "tests/support/vhost_user_reply.h"

namespace shoal::testing_vhost {

constexpr uint64_t kGuestBase = 0x100000;  // guest-physical address of the RAM's first byte
constexpr size_t kRamBytes = 1 << 20;
constexpr uint16_t kQueueSize = 16;
constexpr uint64_t kDescOff = 0x0;
constexpr uint64_t kAvailOff = 0x1000;
constexpr uint64_t kUsedOff = 0x2000;
constexpr uint64_t kHeaderOff = 0x3000;  // request headers, 16 bytes per descriptor slot
constexpr uint64_t kStatusOff = 0x4000;  // status bytes, one per descriptor slot
constexpr uint64_t kIndirectOff = 0x5000;
constexpr uint64_t kDataOff = 0x10000;

constexpr uint16_t kNext = 1, kWrite = 2, kIndirect = 4;
constexpr uint32_t kTypeIn = 0, kTypeOut = 1, kTypeFlush = 4, kTypeGetId = 8;

inline uint8_t pattern(uint64_t offset) { return static_cast<uint8_t>(offset * 7 + offset / 509); }

struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
struct UsedElem {
  uint32_t id;
  uint32_t len;
};

class Driver {
 public:
  explicit Driver(uint8_t* ram) : ram_(ram) {}

  uint8_t* at(uint64_t off) { return ram_ + off; }
  static uint64_t gpa(uint64_t off) { return kGuestBase + off; }
  uint64_t user(uint64_t off) const { return reinterpret_cast<uint64_t>(ram_ + off); }

  void put_desc(uint64_t table_off, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                uint16_t next = 0) {
    Desc d{addr, len, flags, next};
    std::memcpy(ram_ + table_off + 16u * i, &d, sizeof(d));
  }
  void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0) {
    put_desc(kDescOff, i, addr, len, flags, next);
  }
  void header(uint16_t slot, uint32_t type, uint64_t sector) {
    uint8_t* h = ram_ + kHeaderOff + 16u * slot;
    std::memcpy(h, &type, 4);
    std::memset(h + 4, 0, 4);
    std::memcpy(h + 8, &sector, 8);
  }
  uint8_t& status(uint16_t slot) { return ram_[kStatusOff + slot]; }

  // A three-descriptor request at descriptors first..first+2: header, data, status.
  uint16_t request(uint16_t first, uint32_t type, uint64_t sector, uint64_t data_off,
                   uint32_t data_len, bool data_writable = true) {
    header(first, type, sector);
    status(first) = 0xff;
    desc(first, gpa(kHeaderOff + 16u * first), 16, kNext, first + 1);
    desc(first + 1, gpa(data_off), data_len, kNext | (data_writable ? kWrite : 0), first + 2);
    desc(first + 2, gpa(kStatusOff + first), 1, kWrite);
    return first;
  }

  void make_available(uint16_t head) {
    uint16_t idx = avail_idx();
    std::memcpy(ram_ + kAvailOff + 4 + 2u * (idx % kQueueSize), &head, 2);
    idx++;
    __atomic_store_n(reinterpret_cast<uint16_t*>(ram_ + kAvailOff + 2), idx, __ATOMIC_RELEASE);
  }
  uint16_t avail_idx() const {
    return __atomic_load_n(reinterpret_cast<uint16_t*>(ram_ + kAvailOff + 2), __ATOMIC_ACQUIRE);
  }
  uint16_t used_idx() const {
    return __atomic_load_n(reinterpret_cast<uint16_t*>(ram_ + kUsedOff + 2), __ATOMIC_ACQUIRE);
  }
  UsedElem used(uint16_t i) const {
    UsedElem e;
    std::memcpy(&e, ram_ + kUsedOff + 4 + 8u * (i % kQueueSize), sizeof(e));
    return e;
  }
  uint16_t avail_event() const {
    uint16_t v;
    std::memcpy(&v, ram_ + kUsedOff + 4 + 8u * kQueueSize, 2);
    return v;
  }
  void set_used_event(uint16_t v) { std::memcpy(ram_ + kAvailOff + 4 + 2u * kQueueSize, &v, 2); }

 private:
  uint8_t* ram_;
};

// Fills reads with pattern() bytes; completions posted to the reactor, never inline.
class PatternDevice : public BlockDevice {
 public:
  PatternDevice(Reactor& reactor, uint64_t size) : reactor_(reactor), size_(size) {}
  uint64_t size_bytes() const override { return size_; }
  void readv(uint64_t offset, std::span<const iovec> iov, ReadDone done) override {
    ++reads;
    for (const iovec& v : iov)
      for (size_t k = 0; k < v.iov_len; ++k)
        static_cast<uint8_t*>(v.iov_base)[k] = pattern(offset++);
    reactor_.post([done = std::move(done)] { done(Status{}); });
  }
  int reads = 0;

 private:
  Reactor& reactor_;
  uint64_t size_;
};

}  // namespace shoal::testing_vhost

namespace shoal {
namespace {

using namespace testing_vhost;

constexpr uint64_t kDeviceBytes = 256 * 1024;

// ---------------------------------------------------------------------------------------------
// Virtqueue and virtio-blk request handling over borrowed memory.

class VirtioBlkQueueTest : public ::testing::Test {
 protected:
  VirtioBlkQueueTest() : ram_(kRamBytes), driver_(ram_.data()), device_(loop_, kDeviceBytes) {
    memory_ = GuestMemory::borrow(
        {{kGuestBase, kRamBytes, reinterpret_cast<uint64_t>(ram_.data()), ram_.data()}});
  }

  void make_queue(SplitVirtqueue::Features features = {}) {
    auto q = SplitVirtqueue::attach(
        *memory_, kQueueSize,
        {driver_.user(kDescOff), driver_.user(kAvailOff), driver_.user(kUsedOff)}, features, 0);
    ASSERT_TRUE(q.ok()) << q.error().message;
    queue_ = std::make_unique<VirtioBlkQueue>(device_, memory_, *q, "shoal-serial-0123456789",
                                              [this] { ++calls_; });
  }
  void serve(uint16_t expected_used) {
    queue_->process();
    ASSERT_TRUE(loop_.run_until([&] { return driver_.used_idx() == expected_used; }));
  }

  PollReactor loop_;
  std::vector<uint8_t> ram_;
  Driver driver_;
  PatternDevice device_;
  std::shared_ptr<GuestMemory> memory_;
  std::unique_ptr<VirtioBlkQueue> queue_;
  int calls_ = 0;
};

TEST_F(VirtioBlkQueueTest, ReadLandsInGuestMemory) {
  make_queue();
  driver_.make_available(driver_.request(0, kTypeIn, 3, kDataOff, 8192));
  serve(1);
  EXPECT_EQ(driver_.used(0).id, 0u);
  EXPECT_EQ(driver_.used(0).len, 8193u);
  EXPECT_EQ(driver_.status(0), VIRTIO_BLK_S_OK);
  for (size_t i = 0; i < 8192; ++i) ASSERT_EQ(*driver_.at(kDataOff + i), pattern(3 * 512 + i)) << i;
  EXPECT_EQ(calls_, 1);
}

TEST_F(VirtioBlkQueueTest, ManyRequestsAtOnce) {
  make_queue();
  for (uint16_t r = 0; r < 4; ++r)
    driver_.make_available(driver_.request(3 * r, kTypeIn, 8 * r, kDataOff + 4096u * r, 4096));
  serve(4);
  EXPECT_EQ(device_.reads, 4);
  for (uint16_t r = 0; r < 4; ++r) {
    EXPECT_EQ(driver_.status(3 * r), VIRTIO_BLK_S_OK);
    EXPECT_EQ(*driver_.at(kDataOff + 4096u * r + 100), pattern(4096u * r + 100));
  }
}

// Found by fuzzing (fuzz/corpus/virtqueue_fuzz/regression-ring-refilled-while-served): a
// ring that kept being refilled while it was served held the loop in one process() call.
TEST_F(VirtioBlkQueueTest, OneCallServesAtMostOneRingsWorth) {
  make_queue();
  uint16_t head = driver_.request(0, kTypeOut, 0, kDataOff, 512, false);
  for (int i = 0; i < 3 * kQueueSize; ++i) driver_.make_available(head);
  for (int ring = 1; ring <= 3; ++ring) {
    EXPECT_TRUE(queue_->process()) << ring;
    EXPECT_EQ(driver_.used_idx(), ring * kQueueSize);
  }
  EXPECT_FALSE(queue_->process());
  EXPECT_EQ(driver_.used_idx(), 3 * kQueueSize);
}

TEST_F(VirtioBlkQueueTest, WriteIsIoErrorAndNothingIsRead) {
  make_queue();
  driver_.make_available(driver_.request(0, kTypeOut, 0, kDataOff, 4096, false));
  serve(1);
  EXPECT_EQ(driver_.status(0), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(device_.reads, 0);
}

TEST_F(VirtioBlkQueueTest, FlushIsUnsupported) {
  make_queue();
  driver_.header(0, kTypeFlush, 0);
  driver_.status(0) = 0xff;
  driver_.desc(0, Driver::gpa(kHeaderOff), 16, kNext, 1);
  driver_.desc(1, Driver::gpa(kStatusOff), 1, kWrite);
  driver_.make_available(0);
  serve(1);
  EXPECT_EQ(driver_.status(0), VIRTIO_BLK_S_UNSUPP);
}

TEST_F(VirtioBlkQueueTest, GetIdAnswersTheSerial) {
  make_queue();
  std::memset(driver_.at(kDataOff), 0, 64);
  driver_.make_available(driver_.request(0, kTypeGetId, 0, kDataOff, VIRTIO_BLK_ID_BYTES));
  serve(1);
  EXPECT_EQ(driver_.status(0), VIRTIO_BLK_S_OK);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(driver_.at(kDataOff)), VIRTIO_BLK_ID_BYTES),
            std::string("shoal-serial-0123456789").substr(0, VIRTIO_BLK_ID_BYTES));
}

TEST_F(VirtioBlkQueueTest, ReadPastTheEndIsIoError) {
  make_queue();
  driver_.make_available(driver_.request(0, kTypeIn, kDeviceBytes / 512 - 4, kDataOff, 4096));
  serve(1);
  EXPECT_EQ(driver_.status(0), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(device_.reads, 0);
}

TEST_F(VirtioBlkQueueTest, BufferOutsideGuestMemoryIsRefusedNotFollowed) {
  make_queue();
  driver_.request(0, kTypeIn, 0, kDataOff, 4096);
  // The data buffer starts inside RAM and runs past its end; another one lies below it.
  driver_.desc(1, Driver::gpa(kRamBytes - 1024), 4096, kNext | kWrite, 2);
  driver_.make_available(0);
  driver_.request(3, kTypeIn, 0, kDataOff, 4096);
  driver_.desc(4, 0x1000, 4096, kNext | kWrite, 5);
  driver_.make_available(3);
  serve(2);
  EXPECT_EQ(device_.reads, 0);
  EXPECT_EQ(queue_->refused_chains(), 2u);
  EXPECT_EQ(driver_.used(0).len, 0u);
  EXPECT_EQ(driver_.status(0), 0xff) << "a refused chain is not written to";
}

TEST_F(VirtioBlkQueueTest, StatusOutsideGuestMemoryIsRefused) {
  make_queue();
  driver_.request(0, kTypeIn, 0, kDataOff, 4096);
  driver_.desc(2, Driver::gpa(kRamBytes), 1, kWrite);
  driver_.make_available(0);
  serve(1);
  EXPECT_EQ(device_.reads, 0);
  EXPECT_EQ(queue_->refused_chains(), 1u);
}

TEST_F(VirtioBlkQueueTest, LoopingChainIsRefused) {
  make_queue();
  driver_.request(0, kTypeIn, 0, kDataOff, 4096);
  driver_.desc(2, Driver::gpa(kStatusOff), 1, kWrite | kNext, 1);  // 1 → 2 → 1 → ...
  driver_.make_available(0);
  serve(1);
  EXPECT_EQ(device_.reads, 0);
  EXPECT_EQ(queue_->refused_chains(), 1u);
}

TEST_F(VirtioBlkQueueTest, HeadOrNextOutsideTheTableIsRefused) {
  make_queue();
  driver_.request(0, kTypeIn, 0, kDataOff, 4096);
  driver_.desc(1, Driver::gpa(kDataOff), 4096, kWrite | kNext, kQueueSize + 3);
  driver_.make_available(0);
  serve(1);
  EXPECT_EQ(queue_->refused_chains(), 1u);
  driver_.make_available(kQueueSize + 1);  // cannot even be returned
  queue_->process();
  loop_.run_once(std::chrono::milliseconds(0));
  EXPECT_EQ(queue_->refused_chains(), 2u);
  EXPECT_EQ(driver_.used_idx(), 1u);
}

TEST_F(VirtioBlkQueueTest, ReadableAfterWritableIsRefused) {
  make_queue();
  driver_.request(0, kTypeIn, 0, kDataOff, 4096);
  driver_.desc(0, Driver::gpa(kHeaderOff), 16, kNext | kWrite, 1);
  driver_.desc(1, Driver::gpa(kDataOff), 4096, kNext, 2);
  driver_.make_available(0);
  serve(1);
  EXPECT_EQ(queue_->refused_chains(), 1u);
}

TEST_F(VirtioBlkQueueTest, IndirectTableIsServedWhenNegotiated) {
  make_queue({.event_idx = false, .indirect = true});
  driver_.header(0, kTypeIn, 16);
  driver_.status(0) = 0xff;
  driver_.put_desc(kIndirectOff, 0, Driver::gpa(kHeaderOff), 16, kNext, 1);
  driver_.put_desc(kIndirectOff, 1, Driver::gpa(kDataOff), 2048, kNext | kWrite, 2);
  driver_.put_desc(kIndirectOff, 2, Driver::gpa(kDataOff + 8192), 2048, kNext | kWrite, 3);
  driver_.put_desc(kIndirectOff, 3, Driver::gpa(kStatusOff), 1, kWrite);
  driver_.desc(0, Driver::gpa(kIndirectOff), 4 * 16, kIndirect);
  driver_.make_available(0);
  serve(1);
  EXPECT_EQ(driver_.status(0), VIRTIO_BLK_S_OK);
  EXPECT_EQ(driver_.used(0).len, 4097u);
  EXPECT_EQ(*driver_.at(kDataOff + 8192 + 5), pattern(16 * 512 + 2048 + 5));
}

TEST_F(VirtioBlkQueueTest, BadIndirectTablesAreRefused) {
  make_queue({.event_idx = false, .indirect = true});
  // Outside guest memory.
  driver_.desc(0, Driver::gpa(kRamBytes - 16), 64, kIndirect);
  driver_.make_available(0);
  // Nested.
  driver_.put_desc(kIndirectOff, 0, Driver::gpa(kIndirectOff), 16, kIndirect);
  driver_.desc(1, Driver::gpa(kIndirectOff), 16, kIndirect);
  driver_.make_available(1);
  // Looping inside the table.
  driver_.put_desc(kIndirectOff + 256, 0, Driver::gpa(kHeaderOff), 16, kNext, 1);
  driver_.put_desc(kIndirectOff + 256, 1, Driver::gpa(kStatusOff), 1, kWrite | kNext, 0);
  driver_.desc(2, Driver::gpa(kIndirectOff + 256), 32, kIndirect);
  driver_.make_available(2);
  serve(3);
  EXPECT_EQ(queue_->refused_chains(), 3u);
  EXPECT_EQ(device_.reads, 0);
}

// Found by fuzzing (fuzz/corpus/virtqueue_fuzz/regression-long-indirect-chains: a 2048-entry
// ring of 32768-entry indirect tables cost seconds per kick): a chain, an indirect table's
// descriptors included, has at most kMaxChainDescriptors.
TEST_F(VirtioBlkQueueTest, ChainsLongerThanTheLimitAreRefused) {
  make_queue({.event_idx = false, .indirect = true});
  driver_.header(0, kTypeIn, 0);
  auto indirect_chain = [&](uint32_t descriptors) {
    uint32_t data = descriptors - 2;
    driver_.put_desc(kIndirectOff, 0, Driver::gpa(kHeaderOff), 16, kNext, 1);
    for (uint32_t i = 1; i <= data; ++i) {
      driver_.put_desc(kIndirectOff, static_cast<uint16_t>(i), Driver::gpa(kDataOff + 256 * i),
                       256, kNext | kWrite, static_cast<uint16_t>(i + 1));
    }
    driver_.put_desc(kIndirectOff, static_cast<uint16_t>(data + 1), Driver::gpa(kStatusOff), 1,
                     kWrite);
    driver_.desc(0, Driver::gpa(kIndirectOff), 16 * descriptors, kIndirect);
    driver_.make_available(0);
  };
  indirect_chain(SplitVirtqueue::kMaxChainDescriptors);
  serve(1);
  EXPECT_EQ(driver_.status(0), VIRTIO_BLK_S_OK);
  EXPECT_EQ(queue_->refused_chains(), 0u);
  indirect_chain(SplitVirtqueue::kMaxChainDescriptors + 1);
  serve(2);
  EXPECT_EQ(queue_->refused_chains(), 1u);
}

TEST_F(VirtioBlkQueueTest, IndirectWithoutNegotiationIsRefused) {
  make_queue();
  driver_.put_desc(kIndirectOff, 0, Driver::gpa(kHeaderOff), 16, 0);
  driver_.desc(0, Driver::gpa(kIndirectOff), 16, kIndirect);
  driver_.make_available(0);
  serve(1);
  EXPECT_EQ(queue_->refused_chains(), 1u);
}

TEST_F(VirtioBlkQueueTest, EventIdxPublishesAvailEventAndSuppressesCalls) {
  make_queue({.event_idx = true, .indirect = false});
  driver_.set_used_event(5);  // the driver wants an interrupt only after the 6th completion
  driver_.make_available(driver_.request(0, kTypeIn, 0, kDataOff, 512));
  serve(1);
  EXPECT_EQ(calls_, 0);
  EXPECT_EQ(driver_.avail_event(), 1u) << "the device asks for a kick at the next request";
  driver_.set_used_event(1);
  driver_.make_available(driver_.request(3, kTypeIn, 0, kDataOff, 512));
  serve(2);
  EXPECT_EQ(calls_, 1);
}

TEST_F(VirtioBlkQueueTest, StopWaitsForReadsInFlight) {
  make_queue();
  driver_.make_available(driver_.request(0, kTypeIn, 0, kDataOff, 4096));
  queue_->process();
  EXPECT_EQ(queue_->reads_in_flight(), 1u);
  bool drained = false;
  queue_->stop([&] { drained = true; });
  EXPECT_FALSE(drained);
  ASSERT_TRUE(loop_.run_until([&] { return drained; }));
  EXPECT_EQ(driver_.used_idx(), 1u) << "the read in flight was still returned";
  EXPECT_EQ(queue_->next_available(), 1u);
  driver_.make_available(driver_.request(3, kTypeIn, 0, kDataOff, 4096));
  queue_->process();
  EXPECT_EQ(device_.reads, 1) << "a stopped queue takes no more requests";
}

// ---------------------------------------------------------------------------------------------
// The vhost-user protocol over a socketpair.

class VhostUserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.export_name = "vhost-test";
    options_.vhost_user_blk.max_queues = 2;
    backend_ = std::make_unique<VhostUserBlk>(options_, loop_, device_);
    connect();
    memfd_ = memfd_create("guest-ram", MFD_CLOEXEC);
    ASSERT_GE(memfd_, 0);
    ASSERT_EQ(ftruncate(memfd_, kRamBytes), 0);
    void* ram = mmap(nullptr, kRamBytes, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_, 0);
    ASSERT_NE(ram, MAP_FAILED);
    ram_ = static_cast<uint8_t*>(ram);
    driver_.emplace(ram_);
  }
  void TearDown() override {
    if (client_ >= 0) ::close(client_);
    backend_.reset();
    if (ram_ != nullptr) munmap(ram_, kRamBytes);
    if (memfd_ >= 0) ::close(memfd_);
    for (int fd : eventfds_) ::close(fd);
  }

  void connect() {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    client_ = sv[0];
    ASSERT_TRUE(backend_->adopt(sv[1]).ok());
  }

  void send(uint32_t request, const void* payload, size_t size, std::vector<int> fds = {},
            uint32_t flags = vhost::kVersion) {
    std::vector<uint8_t> bytes(sizeof(vhost::Header) + size);
    vhost::Header h{request, flags, static_cast<uint32_t>(size)};
    std::memcpy(bytes.data(), &h, sizeof(h));
    if (size > 0) std::memcpy(bytes.data() + sizeof(h), payload, size);
    ASSERT_EQ(send_with_fds(client_, bytes, fds, MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  void send_u64(uint32_t request, uint64_t value, std::vector<int> fds = {},
                uint32_t flags = vhost::kVersion) {
    send(request, &value, sizeof(value), std::move(fds), flags);
  }
  void send_state(uint32_t request, uint32_t index, uint32_t num,
                  uint32_t flags = vhost::kVersion) {
    vhost::VringState s{index, num};
    send(request, &s, sizeof(s), {}, flags);
  }

  // Runs the loop until a reply arrives; nullopt if the back end closed the connection.
  std::optional<std::vector<uint8_t>> reply(uint32_t request) {
    auto r = test::read_vhost_reply(loop_, client_);
    if (!r) return std::nullopt;
    EXPECT_EQ(r->header.request, request);
    EXPECT_EQ(r->header.flags, vhost::kVersion | vhost::kFlagReply);
    return std::move(r->payload);
  }
  uint64_t reply_u64(uint32_t request) {
    auto r = reply(request);
    EXPECT_TRUE(r.has_value()) << "connection closed instead of replying to " << request;
    if (!r || r->size() != 8) return ~uint64_t{0};
    uint64_t v;
    std::memcpy(&v, r->data(), 8);
    return v;
  }
  bool connection_closed() {
    char c;
    loop_.run_until([&] { return !backend_->connected(); });
    return recv(client_, &c, 1, MSG_DONTWAIT) == 0;
  }

  void negotiate(bool reply_ack) {
    send(vhost::kGetFeatures, nullptr, 0);
    uint64_t features = reply_u64(vhost::kGetFeatures);
    send_u64(vhost::kSetFeatures, features & ~vhost::kFeatureEventIdx);
    send(vhost::kGetProtocolFeatures, nullptr, 0);
    uint64_t protocol = reply_u64(vhost::kGetProtocolFeatures);
    if (!reply_ack) protocol &= ~vhost::kProtocolReplyAck;
    send_u64(vhost::kSetProtocolFeatures, protocol);
    send(vhost::kSetOwner, nullptr, 0);
  }
  void set_mem_table(std::vector<vhost::MemoryRegion> regions, std::vector<int> fds,
                     uint32_t flags = vhost::kVersion) {
    std::vector<uint8_t> payload(sizeof(vhost::MemoryHeader) + regions.size() * 32);
    vhost::MemoryHeader h{static_cast<uint32_t>(regions.size()), 0};
    std::memcpy(payload.data(), &h, sizeof(h));
    if (!regions.empty())
      std::memcpy(payload.data() + sizeof(h), regions.data(), regions.size() * 32);
    send(vhost::kSetMemTable, payload.data(), payload.size(), std::move(fds), flags);
  }
  vhost::MemoryRegion whole_ram() const {
    return {kGuestBase, kRamBytes, reinterpret_cast<uint64_t>(ram_), 0};
  }
  void set_vring_addr(uint32_t index, uint32_t flags = vhost::kVersion) {
    vhost::VringAddr a{
        index, 0, driver_->user(kDescOff), driver_->user(kUsedOff), driver_->user(kAvailOff), 0};
    send(vhost::kSetVringAddr, &a, sizeof(a), {}, flags);
  }
  int new_eventfd() {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    eventfds_.push_back(fd);
    return fd;
  }
  // Brings ring 0 up the way QEMU does; returns the call eventfd.
  int start_ring0() {
    set_mem_table({whole_ram()}, {memfd_});
    send_state(vhost::kSetVringNum, 0, kQueueSize);
    send_state(vhost::kSetVringBase, 0, 0);
    set_vring_addr(0);
    kick_ = new_eventfd();
    int call = new_eventfd();
    send_u64(vhost::kSetVringKick, 0, {kick_});
    send_u64(vhost::kSetVringCall, 0, {call});
    send_state(vhost::kSetVringEnable, 0, 1);
    return call;
  }
  void kick() {
    uint64_t one = 1;
    ASSERT_EQ(write(kick_, &one, 8), 8);
  }
  bool wait_call(int call) {
    return loop_.run_until([&] {
      uint64_t n;
      return read(call, &n, 8) == 8;
    });
  }

  PollReactor loop_;
  PatternDevice device_{loop_, kDeviceBytes};
  FrontendOptions options_;
  std::unique_ptr<VhostUserBlk> backend_;
  int client_ = -1;
  int memfd_ = -1;
  int kick_ = -1;
  uint8_t* ram_ = nullptr;
  std::optional<Driver> driver_;
  std::vector<int> eventfds_;
};

TEST_F(VhostUserTest, OffersAReadOnlyBlockDeviceWithConfig) {
  send(vhost::kGetFeatures, nullptr, 0);
  uint64_t features = reply_u64(vhost::kGetFeatures);
  EXPECT_TRUE(features & vhost::kFeatureBlkRo);
  EXPECT_TRUE(features & vhost::kFeatureBlkBlkSize);
  EXPECT_TRUE(features & vhost::kFeatureVersion1);
  EXPECT_TRUE(features & vhost::kFeatureProtocolFeatures);
  send(vhost::kGetProtocolFeatures, nullptr, 0);
  uint64_t protocol = reply_u64(vhost::kGetProtocolFeatures);
  EXPECT_TRUE(protocol & vhost::kProtocolConfig);
  EXPECT_TRUE(protocol & vhost::kProtocolReplyAck);
  send(vhost::kGetQueueNum, nullptr, 0);
  EXPECT_EQ(reply_u64(vhost::kGetQueueNum), 2u);

  struct {
    vhost::ConfigHeader h;
    uint8_t bytes[60];
  } request{{0, 60, 0}, {}};
  send(vhost::kGetConfig, &request, sizeof(request));
  auto config = reply(vhost::kGetConfig);
  ASSERT_TRUE(config.has_value());
  ASSERT_EQ(config->size(), sizeof(request));
  virtio_blk_config c{};
  std::memcpy(&c, config->data() + sizeof(vhost::ConfigHeader), std::min(sizeof(c), size_t{60}));
  EXPECT_EQ(c.capacity, kDeviceBytes / 512);
  EXPECT_EQ(c.blk_size, 4096u);
  EXPECT_EQ(c.num_queues, 2u);
}

TEST_F(VhostUserTest, ServesAReadFromKickToCall) {
  negotiate(true);
  int call = start_ring0();
  driver_->make_available(driver_->request(0, kTypeIn, 8, kDataOff, 4096));
  kick();
  ASSERT_TRUE(wait_call(call));
  EXPECT_EQ(driver_->used_idx(), 1u);
  EXPECT_EQ(driver_->status(0), VIRTIO_BLK_S_OK);
  EXPECT_EQ(*driver_->at(kDataOff + 10), pattern(4096 + 10));

  driver_->make_available(driver_->request(3, kTypeOut, 0, kDataOff, 4096, false));
  kick();
  ASSERT_TRUE(wait_call(call));
  EXPECT_EQ(driver_->status(3), VIRTIO_BLK_S_IOERR) << "a guest asking to write gets IOERR";

  send_state(vhost::kGetVringBase, 0, 0);
  auto base = reply(vhost::kGetVringBase);
  ASSERT_TRUE(base.has_value());
  vhost::VringState state;
  std::memcpy(&state, base->data(), sizeof(state));
  EXPECT_EQ(state.index, 0u);
  EXPECT_EQ(state.num, 2u);
}

TEST_F(VhostUserTest, RingAddressBeforeMemoryTableIsNackedWithReplyAck) {
  negotiate(true);
  send_state(vhost::kSetVringNum, 0, kQueueSize);
  set_vring_addr(0, vhost::kVersion | vhost::kFlagNeedReply);
  EXPECT_NE(reply_u64(vhost::kSetVringAddr), 0u);
  // The connection survives and goes on working.
  set_mem_table({whole_ram()}, {memfd_}, vhost::kVersion | vhost::kFlagNeedReply);
  EXPECT_EQ(reply_u64(vhost::kSetMemTable), 0u);
  set_vring_addr(0, vhost::kVersion | vhost::kFlagNeedReply);
  EXPECT_EQ(reply_u64(vhost::kSetVringAddr), 0u);
}

TEST_F(VhostUserTest, RingAddressBeforeMemoryTableClosesWithoutReplyAck) {
  negotiate(false);
  send_state(vhost::kSetVringNum, 0, kQueueSize);
  set_vring_addr(0);
  EXPECT_TRUE(connection_closed());
}

TEST_F(VhostUserTest, RingOutsideGuestMemoryIsNacked) {
  negotiate(true);
  set_mem_table({whole_ram()}, {memfd_});
  send_state(vhost::kSetVringNum, 0, kQueueSize);
  vhost::VringAddr a{
      0, 0, driver_->user(kRamBytes - 64), driver_->user(kUsedOff), driver_->user(kAvailOff), 0};
  send(vhost::kSetVringAddr, &a, sizeof(a), {}, vhost::kVersion | vhost::kFlagNeedReply);
  EXPECT_NE(reply_u64(vhost::kSetVringAddr), 0u);
}

TEST_F(VhostUserTest, BadMemoryTablesAreNacked) {
  negotiate(true);
  const uint32_t ack = vhost::kVersion | vhost::kFlagNeedReply;
  vhost::MemoryRegion empty = whole_ram();
  empty.memory_size = 0;
  set_mem_table({empty}, {memfd_}, ack);
  EXPECT_NE(reply_u64(vhost::kSetMemTable), 0u) << "empty region";

  vhost::MemoryRegion too_big = whole_ram();
  too_big.memory_size = 2 * kRamBytes;
  set_mem_table({too_big}, {memfd_}, ack);
  EXPECT_NE(reply_u64(vhost::kSetMemTable), 0u) << "region past the end of its file";

  vhost::MemoryRegion wraps = whole_ram();
  wraps.guest_phys_addr = ~uint64_t{0} - 4096;
  set_mem_table({wraps}, {memfd_}, ack);
  EXPECT_NE(reply_u64(vhost::kSetMemTable), 0u) << "region wrapping around";

  vhost::MemoryRegion half = whole_ram();
  half.memory_size = kRamBytes / 2;
  vhost::MemoryRegion overlapping = half;
  overlapping.guest_phys_addr += 4096;
  overlapping.mmap_offset = kRamBytes / 2;
  set_mem_table({half, overlapping}, {memfd_, memfd_}, ack);
  EXPECT_NE(reply_u64(vhost::kSetMemTable), 0u) << "overlapping regions";

  set_mem_table({half, overlapping}, {memfd_}, ack);
  EXPECT_NE(reply_u64(vhost::kSetMemTable), 0u) << "fewer fds than regions";

  // Found by fuzzing (fuzz/corpus/vhost_user_fuzz/regression-empty-mem-table): a table of no
  // regions reached a copy into an empty vector (undefined behaviour) before being refused.
  set_mem_table({}, {}, ack);
  EXPECT_NE(reply_u64(vhost::kSetMemTable), 0u) << "no regions";

  set_mem_table({whole_ram()}, {memfd_}, ack);
  EXPECT_EQ(reply_u64(vhost::kSetMemTable), 0u) << "a good table after the bad ones";
}

TEST_F(VhostUserTest, RingIndexOutOfRangeAndBadSizesAreNacked) {
  negotiate(true);
  send_state(vhost::kSetVringNum, 7, kQueueSize, vhost::kVersion | vhost::kFlagNeedReply);
  EXPECT_NE(reply_u64(vhost::kSetVringNum), 0u);
  send_state(vhost::kSetVringNum, 0, 100, vhost::kVersion | vhost::kFlagNeedReply);
  EXPECT_NE(reply_u64(vhost::kSetVringNum), 0u);
  send_u64(999, 0, {}, vhost::kVersion | vhost::kFlagNeedReply);
  EXPECT_NE(reply_u64(999), 0u);
}

TEST_F(VhostUserTest, BadVersionClosesTheConnection) {
  send(vhost::kGetFeatures, nullptr, 0, {}, 0x2);
  EXPECT_TRUE(connection_closed());
}

TEST_F(VhostUserTest, ASecondFrontEndIsRefusedAndANewOneServedAfterTheFirstLeaves) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  EXPECT_FALSE(backend_->adopt(sv[1]).ok());
  EXPECT_EQ(backend_->refused_connections(), 1u);
  ::close(sv[0]);

  negotiate(true);
  int call = start_ring0();
  (void)call;
  ::close(client_);
  client_ = -1;
  ASSERT_TRUE(loop_.run_until([&] { return !backend_->connected(); }));

  connect();  // fresh state: features and rings start over
  negotiate(true);
  int call2 = start_ring0();
  driver_->make_available(driver_->request(0, kTypeIn, 0, kDataOff, 4096));
  kick();
  ASSERT_TRUE(wait_call(call2));
  EXPECT_EQ(driver_->status(0), VIRTIO_BLK_S_OK);
}

}  // namespace
}  // namespace shoal
