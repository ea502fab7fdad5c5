// The generic frontend suite: what every transport must do for the same BlockDevice, whatever
// its wire — the device's size, its bytes at any offset and length, many reads at once, a
// device error reaching the client as an error (never as bytes), nothing past the end, writes
// refused, and serving on after each of those. Each transport supplies one small client below;
// the tests never know which transport they talk to. Run here: the FUSE image (a real FUSE
// mount, read with pread) and NBD (the server on a socketpair, a minimal client speaking the
// protocol). vhost-user-blk's and ublk's own suites (vhost_user_blk_test, the QEMU guest tests)
// hold them to the same points; they need guest memory or a kernel module this suite lacks.
//
// The frontend runs on a PollReactor on the test thread; the client runs on a helper thread
// (serve_while). The FUSE transport needs root and /dev/fuse and fails loudly without them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/poll_reactor.h"
#include "common/socket.h"
#include "common/unique_fd.h"
#include "daemon/frontends/fuse_image.h"
#include "daemon/frontends/nbd_protocol.h"
#include "daemon/frontends/nbd_server.h"
#include "support/files.h"
#include "support/pattern_device.h"
#include "support/serve_while.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

using Bytes = std::vector<uint8_t>;
using test::matches_pattern;
using test::PatternDevice;

// An odd size: not a multiple of the block size or of a FUSE page.
constexpr uint64_t kDeviceSize = 9 * 1024 * 1024 + 4096 * 5 + 512;

// One transport under test: starts serving the device, then answers for a client. The client
// calls run on the helper thread, may be made from several threads at once, and report
// failures as values.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual Status start(PollReactor& loop, BlockDevice& device) = 0;
  virtual void stop() = 0;
  // The size the client sees.
  virtual Result<uint64_t> size() = 0;
  // length bytes at offset; fewer only where the transport's semantics say so (a file's EOF).
  virtual Result<Bytes> read(uint64_t offset, uint32_t length) = 0;
  virtual Status write(uint64_t offset, const Bytes& bytes) = 0;
  // A file ends where the device ends (short reads, then EOF); a block transport refuses.
  virtual bool past_end_reads_short() const = 0;
};

// ---- FUSE image: a file read with pread ---------------------------------------------------

class FuseTransport final : public Transport {
 public:
  Status start(PollReactor& loop, BlockDevice& device) override {
    if (::geteuid() != 0) return Error(ErrorKind::kAccessDenied, "the FUSE transport mounts: run as root");
    options_.fuse.mount_point = dir_.path();
    frontend_ = std::make_unique<FuseImage>(options_, loop, device);
    return frontend_->start();
  }
  void stop() override {
    if (frontend_ != nullptr) frontend_->stop();
  }
  Result<uint64_t> size() override {
    struct stat st {};
    if (::stat(frontend_->image_path().c_str(), &st) != 0) return errno_error("stat", errno);
    return static_cast<uint64_t>(st.st_size);
  }
  Result<Bytes> read(uint64_t offset, uint32_t length) override {
    UniqueFd fd(::open(frontend_->image_path().c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return errno_error("open", errno);
    Bytes out(length);
    size_t done = 0;
    while (done < length) {
      ssize_t n = ::pread(fd.get(), out.data() + done, length - done,
                          static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_error("pread", errno);
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    out.resize(done);
    return out;
  }
  Status write(uint64_t offset, const Bytes& bytes) override {
    UniqueFd fd(::open(frontend_->image_path().c_str(), O_RDWR | O_CLOEXEC));
    if (!fd) return errno_error("open for writing", errno);
    if (::pwrite(fd.get(), bytes.data(), bytes.size(), static_cast<off_t>(offset)) < 0)
      return errno_error("pwrite", errno);
    return {};
  }
  bool past_end_reads_short() const override { return true; }

 private:
  test::TempDir dir_{"shoal-conformance"};
  FrontendOptions options_;
  std::unique_ptr<FuseImage> frontend_;
};

// ---- NBD: the newstyle handshake, NBD_OPT_GO, simple replies ------------------------------

class NbdTransport final : public Transport {
 public:
  Status start(PollReactor& loop, BlockDevice& device) override {
    options_.nbd.unix_socket = dir_.path() + "/nbd.sock";
    server_ = std::make_unique<NbdServer>(options_, loop, device);
    return server_->start();
  }
  void stop() override { server_.reset(); }
  Result<uint64_t> size() override {
    SHOAL_ASSIGN(std::shared_ptr<Connection> c, connect());
    return c->size;
  }
  Result<Bytes> read(uint64_t offset, uint32_t length) override {
    SHOAL_ASSIGN(std::shared_ptr<Connection> c, connect());
    SHOAL_TRY(c->request(nbd::kCmdRead, offset, length, {}));
    SHOAL_ASSIGN(uint32_t error, c->reply());
    if (error != 0) return Error(ErrorKind::kIo, "NBD read error " + std::to_string(error));
    Bytes data(length);
    SHOAL_TRY(c->recv_all(data.data(), length));
    return data;
  }
  Status write(uint64_t offset, const Bytes& bytes) override {
    SHOAL_ASSIGN(std::shared_ptr<Connection> c, connect());
    SHOAL_TRY(c->request(nbd::kCmdWrite, offset, static_cast<uint32_t>(bytes.size()), bytes));
    SHOAL_ASSIGN(uint32_t error, c->reply());
    if (error != 0) return Error(ErrorKind::kAccessDenied, "NBD write error " + std::to_string(error));
    return {};
  }
  bool past_end_reads_short() const override { return false; }

 private:
  struct Connection {
    UniqueFd fd;
    uint64_t size = 0;

    Status send_all(const Bytes& b) {
      for (size_t done = 0; done < b.size();) {
        ssize_t n = ::send(fd.get(), b.data() + done, b.size() - done, MSG_NOSIGNAL);
        if (n <= 0) return errno_error("NBD send", errno);
        done += static_cast<size_t>(n);
      }
      return {};
    }
    Status recv_all(uint8_t* out, size_t n) {
      for (size_t done = 0; done < n;) {
        ssize_t got = ::recv(fd.get(), out + done, n - done, 0);
        if (got <= 0) return Error(ErrorKind::kNetwork, "NBD server closed or timed out");
        done += static_cast<size_t>(got);
      }
      return {};
    }
    Status request(uint16_t type, uint64_t offset, uint32_t length, const Bytes& payload) {
      Bytes b;
      nbd::append_be32(b, nbd::kRequestMagic);
      nbd::append_be16(b, 0);
      nbd::append_be16(b, type);
      nbd::append_be64(b, 42);
      nbd::append_be64(b, offset);
      nbd::append_be32(b, length);
      b.insert(b.end(), payload.begin(), payload.end());
      return send_all(b);
    }
    Result<uint32_t> reply() {
      uint8_t h[nbd::kSimpleReplySize];
      SHOAL_TRY(recv_all(h, sizeof h));
      if (nbd::load_be32(h) != nbd::kSimpleReplyMagic || nbd::load_be64(h + 8) != 42)
        return Error(ErrorKind::kServer, "NBD reply with a wrong magic or handle");
      return nbd::load_be32(h + 4);
    }
  };

  // A fresh connection per call, so calls from several threads never share a socket.
  Result<std::shared_ptr<Connection>> connect() {
    auto c = std::make_shared<Connection>();
    SHOAL_ASSIGN(c->fd, connect_unix(options_.nbd.unix_socket, "the NBD server"));
    timeval timeout{20, 0};
    ::setsockopt(c->fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    uint8_t greeting[18];
    SHOAL_TRY(c->recv_all(greeting, sizeof greeting));
    if (nbd::load_be64(greeting) != nbd::kInitPasswd)
      return Error(ErrorKind::kServer, "no NBD greeting");
    Bytes out;
    nbd::append_be32(out, nbd::kClientFlagFixedNewstyle | nbd::kClientFlagNoZeroes);
    nbd::append_be64(out, nbd::kOptionMagic);
    nbd::append_be32(out, nbd::kOptGo);
    nbd::append_be32(out, 6);  // export name length (4), no name, no info requests (2)
    nbd::append_be32(out, 0);
    nbd::append_be16(out, 0);
    SHOAL_TRY(c->send_all(out));
    for (;;) {
      uint8_t h[20];
      SHOAL_TRY(c->recv_all(h, sizeof h));
      uint32_t type = nbd::load_be32(h + 12);
      Bytes data(nbd::load_be32(h + 16));
      SHOAL_TRY(c->recv_all(data.data(), data.size()));
      if (type == nbd::kRepAck) return c;
      if (type != nbd::kRepInfo)
        return Error(ErrorKind::kServer, "NBD_OPT_GO refused: reply type " + std::to_string(type));
      if (data.size() == 12 && nbd::load_be16(data.data()) == nbd::kInfoExport)
        c->size = nbd::load_be64(data.data() + 2);
    }
  }

  test::TempDir dir_{"shoal-conformance"};
  FrontendOptions options_;
  std::unique_ptr<NbdServer> server_;
};

// ---- the suite -----------------------------------------------------------------------------

struct TransportCase {
  const char* name;
  std::unique_ptr<Transport> (*make)();
};

class FrontendConformance : public ::testing::TestWithParam<TransportCase> {
 protected:
  FrontendConformance() : device_(loop_, kDeviceSize) {}

  void SetUp() override {
    transport_ = GetParam().make();
    Status started = transport_->start(loop_, device_);
    ASSERT_TRUE(started.ok()) << GetParam().name << ": " << started.error().describe();
  }
  void TearDown() override {
    if (transport_ != nullptr) transport_->stop();
  }
  void serve_while(const std::function<void()>& script) { test::serve_while(loop_, script); }

  void expect_device_bytes(uint64_t offset, uint32_t length) {
    Result<Bytes> got = transport_->read(offset, length);
    ASSERT_TRUE(got.ok()) << "read " << length << " at " << offset << ": " << got.error().describe();
    ASSERT_EQ(got->size(), length) << "read " << length << " at " << offset;
    EXPECT_TRUE(matches_pattern(*got, offset)) << "wrong bytes: read " << length << " at " << offset;
  }

  PollReactor loop_;
  PatternDevice device_;
  std::unique_ptr<Transport> transport_;
};

TEST_P(FrontendConformance, TheClientSeesTheDevicesSize) {
  serve_while([&] {
    Result<uint64_t> size = transport_->size();
    ASSERT_TRUE(size.ok()) << size.error().describe();
    EXPECT_EQ(*size, kDeviceSize);
  });
}

TEST_P(FrontendConformance, AnyOffsetAndLengthReadsTheDevicesBytes) {
  serve_while([&] {
    expect_device_bytes(0, 4096);
    expect_device_bytes(1, 1);
    expect_device_bytes(4095, 2);
    expect_device_bytes(kDeviceSize - 512, 512);  // the last sector
    expect_device_bytes(1 << 20, 1 << 20);         // a large read, split by the transport
    std::mt19937_64 rng(3);
    for (int i = 0; i < 60; ++i) {
      uint32_t length = 1 + static_cast<uint32_t>(rng() % (200 * 1024));
      uint64_t offset = rng() % (kDeviceSize - length);
      if (i % 2 == 0) offset -= offset % 512;
      expect_device_bytes(offset, length);
    }
  });
}

TEST_P(FrontendConformance, ManyReadsAtOnceAllComplete) {
  serve_while([&] {
    std::vector<std::thread> readers;
    for (int t = 0; t < 16; ++t) {
      readers.emplace_back([&, t] {
        std::mt19937_64 rng(100 + t);
        for (int i = 0; i < 8; ++i) {
          uint32_t length = 4096 * (1 + static_cast<uint32_t>(rng() % 32));
          uint64_t offset = (rng() % (kDeviceSize / 4096 - 40)) * 4096;
          expect_device_bytes(offset, length);
        }
      });
    }
    for (std::thread& r : readers) r.join();
  });
}

TEST_P(FrontendConformance, ADeviceErrorIsAnErrorNeverBytesAndServingGoesOn) {
  device_.failure = Error(ErrorKind::kIo, "the store is down");
  serve_while([&] {
    Result<Bytes> got = transport_->read(8192, 4096);
    EXPECT_FALSE(got.ok()) << "a failed device read came back as " << got->size() << " bytes";
  });
  device_.failure.reset();
  serve_while([&] { expect_device_bytes(8192, 4096); });
}

TEST_P(FrontendConformance, NothingIsReadPastTheEnd) {
  serve_while([&] {
    Result<Bytes> across = transport_->read(kDeviceSize - 512, 4096);
    if (transport_->past_end_reads_short()) {
      ASSERT_TRUE(across.ok()) << across.error().describe();
      EXPECT_EQ(across->size(), 512u);
      EXPECT_TRUE(matches_pattern(*across, kDeviceSize - 512));
      Result<Bytes> beyond = transport_->read(kDeviceSize + 4096, 4096);
      ASSERT_TRUE(beyond.ok()) << beyond.error().describe();
      EXPECT_EQ(beyond->size(), 0u);
    } else {
      EXPECT_FALSE(across.ok()) << "a read across the end returned " << across->size() << " bytes";
      EXPECT_FALSE(transport_->read(kDeviceSize + 4096, 4096).ok());
    }
    expect_device_bytes(kDeviceSize - 4096, 4096);
  });
}

TEST_P(FrontendConformance, WritesAreRefusedAndChangeNothing) {
  serve_while([&] {
    Status written = transport_->write(4096, Bytes(4096, 0xee));
    EXPECT_FALSE(written.ok()) << "a write to a read-only device succeeded";
    expect_device_bytes(0, 3 * 4096);
  });
}

INSTANTIATE_TEST_SUITE_P(
    Transports, FrontendConformance,
    ::testing::Values(
        TransportCase{"Fuse", [] { return std::unique_ptr<Transport>(new FuseTransport); }},
        TransportCase{"Nbd", [] { return std::unique_ptr<Transport>(new NbdTransport); }}),
    [](const ::testing::TestParamInfo<TransportCase>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace shoal
