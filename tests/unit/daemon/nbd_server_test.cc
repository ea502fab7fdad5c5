// The NBD server against a hand-written client speaking the wire format straight from the spec
// (doc/proto.md, NetworkBlockDevice/nbd): magic numbers and codes are written out here rather
// than taken from the server's headers, so a wrong constant there fails these tests.
//
// The server runs on a PollReactor on the test thread; each client script runs on a helper
// thread with blocking sockets while the test thread pumps the loop (serve_while). Socket
// timeouts only turn a hang into a failure; nothing asserts on timing.
#include "daemon/frontends/nbd_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/poll_reactor.h"
#include "daemon/frontends/frontend.h"
#include "support/pattern_device.h"
#include "support/serve_while.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

using test::fill_pattern;
using test::matches_pattern;
using test::PatternDevice;

using Bytes = std::vector<uint8_t>;

constexpr uint64_t kNbdMagic = 0x4e42444d41474943ull;  // "NBDMAGIC"
constexpr uint64_t kIHaveOpt = 0x49484156454f5054ull;  // "IHAVEOPT"
constexpr uint64_t kOptReplyMagic = 0x3e889045565a9ull;
constexpr uint32_t kRequestMagic = 0x25609513u;
constexpr uint32_t kReplyMagic = 0x67446698u;

constexpr uint32_t kOptExportName = 1, kOptAbort = 2, kOptList = 3, kOptInfo = 6, kOptGo = 7;
constexpr uint32_t kOptStructuredReply = 8;
constexpr uint32_t kRepAck = 1, kRepServer = 2, kRepInfo = 3;
constexpr uint32_t kRepErrUnsup = 0x80000001u, kRepErrInvalid = 0x80000003u;
constexpr uint32_t kRepErrUnknown = 0x80000006u;
constexpr uint16_t kInfoExport = 0, kInfoName = 1, kInfoBlockSize = 3;
constexpr uint16_t kCmdRead = 0, kCmdWrite = 1, kCmdDisc = 2, kCmdFlush = 3, kCmdTrim = 4;
constexpr uint16_t kCmdWriteZeroes = 6;
constexpr uint32_t kEperm = 1, kEio = 5, kEinval = 22;
// HAS_FLAGS | READ_ONLY | SEND_FLUSH | CAN_MULTI_CONN
constexpr uint16_t kExpectedFlags = 0x0001 | 0x0002 | 0x0004 | 0x0100;
constexpr uint32_t kMaxPayload = 32u << 20;

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
void put64(Bytes& b, uint64_t v) {
  put32(b, static_cast<uint32_t>(v >> 32));
  put32(b, static_cast<uint32_t>(v));
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return uint32_t{get16(p)} << 16 | get16(p + 2); }
uint64_t get64(const uint8_t* p) { return uint64_t{get32(p)} << 32 | get32(p + 4); }

// Holds every read until the test completes it, to choose completion order and timing.
class HeldDevice : public BlockDevice {
 public:
  explicit HeldDevice(uint64_t size) : size_(size) {}
  uint64_t size_bytes() const override { return size_; }
  void readv(uint64_t offset, std::span<const iovec> iov, ReadDone done) override {
    held.push_back({offset, {iov.begin(), iov.end()}, std::move(done)});
  }
  // Fills and completes held read i (its buffers must still be alive: the server's job).
  void complete(size_t i) {
    fill_pattern(held[i].offset, held[i].iov);
    auto done = std::move(held[i].done);
    done(Status());
  }
  struct Held {
    uint64_t offset;
    std::vector<iovec> iov;
    ReadDone done;
  };
  std::vector<Held> held;

 private:
  uint64_t size_;
};

// A blocking client socket. Reads give back fewer bytes than asked on EOF or timeout.
class Client {
 public:
  explicit Client(int fd) : fd_(fd) {
    timeval timeout{20, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  }
  ~Client() { close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void send(const Bytes& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) {
        ADD_FAILURE() << "send failed: " << std::strerror(errno);
        return;
      }
      done += static_cast<size_t>(n);
    }
  }
  Bytes recv(size_t length) {
    Bytes out(length);
    size_t done = 0;
    while (done < length) {
      ssize_t n = ::recv(fd_, out.data() + done, length - done, 0);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    out.resize(done);
    return out;
  }
  // True when the server closed the connection (EOF or reset) rather than sending more.
  bool closed_by_server() {
    uint8_t byte;
    ssize_t n = ::recv(fd_, &byte, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  // --- the protocol, from the client's side ---
  void expect_greeting() {
    Bytes g = recv(18);
    ASSERT_EQ(g.size(), 18u);
    EXPECT_EQ(get64(g.data()), kNbdMagic);
    EXPECT_EQ(get64(g.data() + 8), kIHaveOpt);
    EXPECT_EQ(get16(g.data() + 16), 0x0003) << "FIXED_NEWSTYLE | NO_ZEROES";
  }
  void handshake(uint32_t client_flags = 3) {
    expect_greeting();
    Bytes flags;
    put32(flags, client_flags);
    send(flags);
  }
  void send_option(uint32_t option, const Bytes& data) {
    Bytes b;
    put64(b, kIHaveOpt);
    put32(b, option);
    put32(b, static_cast<uint32_t>(data.size()));
    b.insert(b.end(), data.begin(), data.end());
    send(b);
  }
  struct OptionReply {
    uint32_t option = 0;
    uint32_t type = 0;
    Bytes data;
  };
  OptionReply option_reply() {
    OptionReply r;
    Bytes h = recv(20);
    if (h.size() != 20) {
      ADD_FAILURE() << "no option reply";
      return r;
    }
    EXPECT_EQ(get64(h.data()), kOptReplyMagic);
    r.option = get32(h.data() + 8);
    r.type = get32(h.data() + 12);
    r.data = recv(get32(h.data() + 16));
    return r;
  }
  static Bytes info_request(const std::string& name, const std::vector<uint16_t>& infos) {
    Bytes b;
    put32(b, static_cast<uint32_t>(name.size()));
    b.insert(b.end(), name.begin(), name.end());
    put16(b, static_cast<uint16_t>(infos.size()));
    for (uint16_t i : infos) put16(b, i);
    return b;
  }
  // NBD_OPT_GO, reading replies up to the ACK; returns the export size from NBD_INFO_EXPORT.
  uint64_t go(const std::string& name = "shoal") {
    send_option(kOptGo, info_request(name, {}));
    return go_replies();
  }
  uint64_t go_replies() {
    uint64_t size = 0;
    for (;;) {
      OptionReply r = option_reply();
      EXPECT_EQ(r.option, kOptGo);
      if (r.type != kRepInfo) {
        EXPECT_EQ(r.type, kRepAck);
        return size;
      }
      if (r.data.size() == 12 && get16(r.data.data()) == kInfoExport) {
        size = get64(r.data.data() + 2);
        EXPECT_EQ(get16(r.data.data() + 10), kExpectedFlags);
      }
    }
  }
  // Handshake and NBD_OPT_GO with the defaults: the connection is in transmission after it.
  void start_transmission() {
    handshake();
    go();
  }
  void request(uint16_t type, uint64_t handle, uint64_t offset, uint32_t length, uint16_t flags = 0,
               const Bytes& payload = {}) {
    send(request_bytes(type, handle, offset, length, flags, payload));
  }
  static Bytes request_bytes(uint16_t type, uint64_t handle, uint64_t offset, uint32_t length,
                             uint16_t flags = 0, const Bytes& payload = {}) {
    Bytes b;
    append_request(b, type, handle, offset, length, flags, payload);
    return b;
  }
  static void append_request(Bytes& b, uint16_t type, uint64_t handle, uint64_t offset,
                             uint32_t length, uint16_t flags = 0, const Bytes& payload = {}) {
    put32(b, kRequestMagic);
    put16(b, flags);
    put16(b, type);
    put64(b, handle);
    put64(b, offset);
    put32(b, length);
    b.insert(b.end(), payload.begin(), payload.end());
  }
  struct Reply {
    uint32_t error = ~0u;
    uint64_t handle = 0;
  };
  Reply reply() {
    Reply r;
    Bytes h = recv(16);
    if (h.size() != 16) {
      ADD_FAILURE() << "no reply";
      return r;
    }
    EXPECT_EQ(get32(h.data()), kReplyMagic);
    r.error = get32(h.data() + 4);
    r.handle = get64(h.data() + 8);
    return r;
  }
  // A read that must succeed: checks the handle and the bytes.
  void expect_read(uint64_t handle, uint64_t offset, uint32_t length) {
    request(kCmdRead, handle, offset, length);
    Reply r = reply();
    ASSERT_EQ(r.error, 0u);
    EXPECT_EQ(r.handle, handle);
    Bytes data = recv(length);
    ASSERT_EQ(data.size(), length);
    EXPECT_TRUE(matches_pattern(data, offset)) << "wrong bytes at " << offset;
  }
  // A request that must fail with `error` and no payload (the next reply parses cleanly).
  void expect_error(uint16_t type, uint64_t offset, uint32_t length, uint32_t error,
                    uint16_t flags = 0, const Bytes& payload = {}) {
    request(type, 77, offset, length, flags, payload);
    Reply r = reply();
    EXPECT_EQ(r.error, error) << "command " << type << " at " << offset << " length " << length;
    EXPECT_EQ(r.handle, 77u);
  }

 private:
  int fd_;
};

constexpr uint64_t kDeviceSize = 64ull << 20;

class NbdServerTest : public ::testing::Test {
 protected:
  NbdServerTest() : device_(loop_, kDeviceSize) {}

  NbdServer& server() {
    if (server_ == nullptr) server_ = std::make_unique<NbdServer>(options_, loop_, device_);
    return *server_;
  }
  NbdServer& server_for(BlockDevice& device) {
    server_ = std::make_unique<NbdServer>(options_, loop_, device);
    return *server_;
  }
  // A client on one end of a socketpair whose other end the server (the one server_for()
  // made, if any) adopts.
  std::unique_ptr<Client> connect() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    Status adopted = server().adopt(fds[1]);
    EXPECT_TRUE(adopted.ok()) << adopted.error().describe();
    return std::make_unique<Client>(fds[0]);
  }
  // Runs a client script on a helper thread while this thread serves.
  void serve_while(const std::function<void()>& script) { test::serve_while(loop_, script); }
  void run_until(const std::function<bool()>& condition) {
    EXPECT_TRUE(loop_.run_until(condition));
  }

  PollReactor loop_;
  PatternDevice device_;
  FrontendOptions options_;
  std::unique_ptr<NbdServer> server_;
};

TEST_F(NbdServerTest, ListInfoAndGo) {
  auto c = connect();
  serve_while([&] {
    c->handshake();
    c->send_option(kOptList, {});
    Client::OptionReply r = c->option_reply();
    EXPECT_EQ(r.option, kOptList);
    ASSERT_EQ(r.type, kRepServer);
    ASSERT_EQ(r.data.size(), 4u + 5u);
    EXPECT_EQ(get32(r.data.data()), 5u);
    EXPECT_EQ(std::string(r.data.begin() + 4, r.data.end()), "shoal");
    EXPECT_EQ(c->option_reply().type, kRepAck);

    c->send_option(kOptInfo, Client::info_request("shoal", {kInfoBlockSize, kInfoName}));
    std::map<uint16_t, Bytes> infos;
    for (r = c->option_reply(); r.type == kRepInfo; r = c->option_reply()) {
      EXPECT_EQ(r.option, kOptInfo);
      ASSERT_GE(r.data.size(), 2u);
      infos[get16(r.data.data())] = r.data;
    }
    EXPECT_EQ(r.type, kRepAck);
    ASSERT_EQ(infos[kInfoExport].size(), 12u);
    EXPECT_EQ(get64(infos[kInfoExport].data() + 2), kDeviceSize);
    EXPECT_EQ(get16(infos[kInfoExport].data() + 10), kExpectedFlags);
    ASSERT_EQ(infos[kInfoBlockSize].size(), 14u);
    EXPECT_EQ(get32(infos[kInfoBlockSize].data() + 2), 1u);
    EXPECT_EQ(get32(infos[kInfoBlockSize].data() + 6), 4096u);
    EXPECT_EQ(get32(infos[kInfoBlockSize].data() + 10), kMaxPayload);
    EXPECT_EQ(std::string(infos[kInfoName].begin() + 2, infos[kInfoName].end()), "shoal");

    // INFO leaves the client haggling; GO (with the default, empty name) starts transmission.
    EXPECT_EQ(c->go(""), kDeviceSize);
    c->expect_read(1, 12345, 4096);
  });
}

TEST_F(NbdServerTest, UnknownOptionsAreUnsupportedAndHagglingContinues) {
  auto c = connect();
  serve_while([&] {
    c->handshake();
    c->send_option(99, Bytes(10, 0xAB));
    Client::OptionReply r = c->option_reply();
    EXPECT_EQ(r.option, 99u);
    EXPECT_EQ(r.type, kRepErrUnsup);
    c->send_option(kOptStructuredReply, {});
    EXPECT_EQ(c->option_reply().type, kRepErrUnsup);
    c->send_option(5 /* STARTTLS */, {});
    EXPECT_EQ(c->option_reply().type, kRepErrUnsup);
    EXPECT_EQ(c->go(), kDeviceSize);
    c->expect_read(1, 0, 512);
  });
}

TEST_F(NbdServerTest, MalformedOptionsAreInvalid) {
  auto c = connect();
  serve_while([&] {
    c->handshake();
    c->send_option(kOptList, Bytes(3, 0));
    EXPECT_EQ(c->option_reply().type, kRepErrInvalid);
    Bytes overrun;
    put32(overrun, 1000);  // a name longer than the option
    put16(overrun, 0);
    c->send_option(kOptGo, overrun);
    EXPECT_EQ(c->option_reply().type, kRepErrInvalid);
    Bytes miscounted = Client::info_request("shoal", {kInfoName});
    miscounted.push_back(0);
    c->send_option(kOptInfo, miscounted);
    EXPECT_EQ(c->option_reply().type, kRepErrInvalid);
    EXPECT_EQ(c->go(), kDeviceSize);
  });
}

TEST_F(NbdServerTest, GoForAnUnknownExportFailsAndMayBeRetried) {
  auto c = connect();
  serve_while([&] {
    c->handshake();
    c->send_option(kOptGo, Client::info_request("nope", {}));
    Client::OptionReply r = c->option_reply();
    EXPECT_EQ(r.type, kRepErrUnknown);
    EXPECT_NE(std::string(r.data.begin(), r.data.end()).find("shoal"), std::string::npos);
    EXPECT_EQ(c->go("shoal"), kDeviceSize);
    c->expect_read(3, kDeviceSize - 100, 100);
  });
}

TEST_F(NbdServerTest, ExportNameEntersTransmission) {
  auto with_no_zeroes = connect();
  auto with_zeroes = connect();
  auto wrong_name = connect();
  serve_while([&] {
    with_no_zeroes->handshake(3);
    with_no_zeroes->send_option(kOptExportName, {'s', 'h', 'o', 'a', 'l'});
    Bytes info = with_no_zeroes->recv(10);
    ASSERT_EQ(info.size(), 10u);
    EXPECT_EQ(get64(info.data()), kDeviceSize);
    EXPECT_EQ(get16(info.data() + 8), kExpectedFlags);
    with_no_zeroes->expect_read(1, 4096, 8192);

    with_zeroes->handshake(1);
    with_zeroes->send_option(kOptExportName, {});
    info = with_zeroes->recv(10 + 124);
    ASSERT_EQ(info.size(), 134u);
    EXPECT_EQ(get64(info.data()), kDeviceSize);
    EXPECT_EQ(Bytes(info.begin() + 10, info.end()), Bytes(124, 0));
    with_zeroes->expect_read(2, 0, 1);

    wrong_name->handshake();
    wrong_name->send_option(kOptExportName, {'x'});
    EXPECT_TRUE(wrong_name->closed_by_server());
  });
}

TEST_F(NbdServerTest, AbortIsAcknowledgedThenClosed) {
  auto c = connect();
  serve_while([&] {
    c->handshake();
    c->send_option(kOptAbort, {});
    EXPECT_EQ(c->option_reply().type, kRepAck);
    EXPECT_TRUE(c->closed_by_server());
  });
  run_until([&] { return server().connection_count() == 0; });
}

TEST_F(NbdServerTest, BadMagicClosesOnlyThatConnection) {
  auto bad_option = connect();
  auto bad_flags = connect();
  auto bad_request = connect();
  auto good = connect();
  serve_while([&] {
    bad_option->handshake();
    bad_option->send(Bytes(16, 0x55));
    EXPECT_TRUE(bad_option->closed_by_server());

    bad_flags->handshake(0x80);  // a client flag the server never offered
    EXPECT_TRUE(bad_flags->closed_by_server());

    bad_request->start_transmission();
    Bytes garbage = Client::request_bytes(kCmdRead, 1, 0, 512);
    garbage[0] ^= 0xFF;
    bad_request->send(garbage);
    EXPECT_TRUE(bad_request->closed_by_server());

    good->start_transmission();
    good->expect_read(9, 1 << 20, 65536);
  });
  EXPECT_EQ(server().connection_count(), 1u);
}

TEST_F(NbdServerTest, ReadsReturnTheDeviceBytes) {
  auto c = connect();
  serve_while([&] {
    c->start_transmission();
    c->expect_read(1, 0, 4096);
    c->expect_read(2, 1, 3);                       // unaligned
    c->expect_read(3, kDeviceSize - 1, 1);         // the last byte
    c->expect_read(4, 7 * 4096 + 17, 300 * 1024);  // several blocks
    c->expect_read(5, 0, kMaxPayload);             // the largest request allowed
  });
}

TEST_F(NbdServerTest, InvalidReadsAreEinvalWithoutPayload) {
  auto c = connect();
  serve_while([&] {
    c->start_transmission();
    c->expect_error(kCmdRead, kDeviceSize - 10, 20, kEinval);   // past the end
    c->expect_error(kCmdRead, kDeviceSize + 4096, 1, kEinval);  // starting past the end
    c->expect_error(kCmdRead, ~uint64_t{0} - 1, 4, kEinval);    // offset + length overflows
    c->expect_error(kCmdRead, 0, kMaxPayload + 1, kEinval);     // longer than the maximum
    c->expect_error(kCmdRead, 0, 512, kEinval, 1u << 2);        // DF without structured replies
    c->expect_error(42, 0, 0, kEinval);                         // no such command
    // Nothing followed those error replies: the stream is still in step.
    c->expect_read(6, 4096, 4096);
  });
}

TEST_F(NbdServerTest, ZeroLengthReadsSucceedWithoutPayload) {
  auto c = connect();
  serve_while([&] {
    c->start_transmission();
    c->expect_error(kCmdRead, 0, 0, 0);
    c->expect_error(kCmdRead, kDeviceSize, 0, 0);
    c->expect_read(2, 100, 100);
  });
}

TEST_F(NbdServerTest, WritesAreRefusedAndTheirPayloadConsumed) {
  auto c = connect();
  serve_while([&] {
    c->start_transmission();
    c->expect_error(kCmdWrite, 0, 100 * 1024, kEperm, 0, Bytes(100 * 1024, 0xEE));
    c->expect_error(kCmdWrite, 0, 0, kEperm);
    // A payload that looks like requests must not be taken for them.
    Bytes fake = Client::request_bytes(kCmdDisc, 0, 0, 0);
    c->expect_error(kCmdWrite, 4096, static_cast<uint32_t>(fake.size()), kEperm, 0, fake);
    c->expect_error(kCmdTrim, 0, 4096, kEperm);
    c->expect_error(kCmdWriteZeroes, 0, 4096, kEperm);
    c->expect_error(kCmdFlush, 0, 0, 0);
    c->expect_read(3, 8192, 4096);
  });
}

TEST_F(NbdServerTest, PipelinedReadsAreAllAnswered) {
  auto c = connect();
  serve_while([&] {
    c->start_transmission();
    constexpr int kRequests = 500;
    std::map<uint64_t, std::pair<uint64_t, uint32_t>> asked;  // handle → offset, length
    Bytes all;
    for (int i = 0; i < kRequests; ++i) {
      uint64_t handle = 1000 + i;
      uint64_t offset = uint64_t(i) * 40961 % (kDeviceSize - 70000);
      uint32_t length = 1 + (i * 977) % 65536;
      asked[handle] = {offset, length};
      Client::append_request(all, kCmdRead, handle, offset, length);
    }
    c->send(all);
    for (int i = 0; i < kRequests; ++i) {
      Client::Reply r = c->reply();
      ASSERT_EQ(r.error, 0u);
      auto it = asked.find(r.handle);
      ASSERT_NE(it, asked.end()) << "unexpected or repeated handle " << r.handle;
      Bytes data = c->recv(it->second.second);
      ASSERT_EQ(data.size(), it->second.second);
      EXPECT_TRUE(matches_pattern(data, it->second.first));
      asked.erase(it);
    }
  });
}

TEST_F(NbdServerTest, RepliesFollowCompletionOrder) {
  HeldDevice held(kDeviceSize);
  server_for(held);
  auto c = connect();
  serve_while([&] {
    c->start_transmission();
    c->request(kCmdRead, 1, 0, 4096);
    c->request(kCmdRead, 2, 8192, 4096);
  });
  run_until([&] { return held.held.size() == 2; });
  held.complete(1);
  held.complete(0);
  serve_while([&] {
    Client::Reply r = c->reply();
    EXPECT_EQ(r.handle, 2u);
    EXPECT_TRUE(matches_pattern(c->recv(4096), 8192));
    r = c->reply();
    EXPECT_EQ(r.handle, 1u);
    EXPECT_TRUE(matches_pattern(c->recv(4096), 0));
  });
}

TEST_F(NbdServerTest, DisconnectAnswersOutstandingReadsFirst) {
  HeldDevice held(kDeviceSize);
  NbdServer& nbd = server_for(held);
  auto c = connect();
  serve_while([&] {
    c->start_transmission();
    c->request(kCmdRead, 5, 4096, 512);
    c->request(kCmdDisc, 6, 0, 0);
  });
  run_until([&] { return held.held.size() == 1; });
  EXPECT_EQ(nbd.connection_count(), 1u);
  held.complete(0);
  serve_while([&] {
    Client::Reply r = c->reply();
    EXPECT_EQ(r.error, 0u);
    EXPECT_EQ(r.handle, 5u);
    EXPECT_TRUE(matches_pattern(c->recv(512), 4096));
    EXPECT_TRUE(c->closed_by_server());
  });
  EXPECT_EQ(nbd.connection_count(), 0u);
}

TEST_F(NbdServerTest, ClientsVanishingMidRequestDisturbNobody) {
  HeldDevice held(kDeviceSize);
  NbdServer& nbd = server_for(held);
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(connect());
  Client& half_header = *clients[0];
  Client& awaiting_reply = *clients[1];
  Client& steady = *clients[2];
  serve_while([&] {
    for (auto& c : clients) c->start_transmission();
    Bytes request = Client::request_bytes(kCmdRead, 1, 0, 4096);
    half_header.send(Bytes(request.begin(), request.begin() + 13));
    half_header.close();
    awaiting_reply.request(kCmdRead, 2, 0, 1 << 20);
    steady.request(kCmdRead, 3, 4096, 4096);
  });
  run_until([&] { return held.held.size() == 2 && nbd.connection_count() == 2; });
  awaiting_reply.close();  // gone while its read is in flight
  run_until([&] { return nbd.connection_count() == 1; });
  held.complete(0);  // its buffer must still be alive; the reply goes nowhere
  held.complete(1);
  serve_while([&] {
    Client::Reply r = steady.reply();
    EXPECT_EQ(r.error, 0u);
    EXPECT_EQ(r.handle, 3u);
    EXPECT_TRUE(matches_pattern(steady.recv(4096), 4096));
  });
  EXPECT_EQ(nbd.connection_count(), 1u);
}

TEST_F(NbdServerTest, AClientVanishingMidReplyLosesOnlyItsConnection) {
  auto leaving = connect();
  auto staying = connect();
  serve_while([&] {
    leaving->start_transmission();
    staying->start_transmission();
    Bytes all;
    for (int i = 0; i < 20; ++i) Client::append_request(all, kCmdRead, i, 0, 1 << 20);
    leaving->send(all);
    EXPECT_EQ(leaving->recv(100).size(), 100u);  // part of the first reply, then gone
    leaving->close();
  });
  run_until([&] { return server().connection_count() == 1; });
  serve_while([&] { staying->expect_read(1, 4096, 65536); });
}

TEST_F(NbdServerTest, StoppingWithReadsInFlightIsSafe) {
  HeldDevice held(kDeviceSize);
  server_for(held);
  auto c = connect();
  serve_while([&] {
    c->start_transmission();
    c->request(kCmdRead, 1, 0, 65536);
  });
  run_until([&] { return held.held.size() == 1; });
  server_.reset();
  held.complete(0);
  EXPECT_TRUE(c->closed_by_server());
}

TEST_F(NbdServerTest, DeviceErrorsBecomeEio) {
  device_.failure = Error(ErrorKind::kNetwork, "the store is down");
  auto c = connect();
  serve_while([&] {
    c->start_transmission();
    c->expect_error(kCmdRead, 0, 4096, kEio);
    c->expect_error(kCmdRead, 4096, 4096, kEio);
  });
}

TEST_F(NbdServerTest, ASlowReaderIsBoundedAndOthersAreServed) {
  auto slow = connect();
  auto other = connect();
  constexpr int kRequests = 100;  // 100 MiB of replies: well over the budget
  constexpr uint32_t kLength = 1 << 20;
  serve_while([&] {
    slow->start_transmission();
    Bytes all;
    for (int i = 0; i < kRequests; ++i)
      Client::append_request(all, kCmdRead, i, uint64_t(i) * kLength % kDeviceSize, kLength);
    slow->send(all);  // and read nothing for now
  });
  run_until([&] { return server().buffered_bytes() >= NbdServer::kConnectionBudget; });
  for (int i = 0; i < 50; ++i) loop_.run_once(std::chrono::milliseconds(1));
  EXPECT_LE(server().buffered_bytes(), NbdServer::kConnectionBudget + kMaxPayload);

  serve_while([&] {
    other->start_transmission();
    other->expect_read(1, 12345, 65536);
  });
  serve_while([&] {
    for (int i = 0; i < kRequests; ++i) {
      Client::Reply r = slow->reply();
      ASSERT_EQ(r.error, 0u);
      Bytes data = slow->recv(kLength);
      ASSERT_EQ(data.size(), kLength);
      EXPECT_TRUE(matches_pattern(data, r.handle * kLength % kDeviceSize));
    }
  });
}

TEST_F(NbdServerTest, IdleClientsAreDroppedAfterTheHandshakeTimeout) {
  options_.nbd.handshake_timeout = std::chrono::milliseconds(50);
  auto idle = connect();
  auto served = connect();
  // All `served` says before transmission is queued before the loop first runs, and the loop
  // handles ready sockets before due timers: it is past the handshake before any timer fires.
  Bytes hello;
  put32(hello, 3);
  hello.insert(hello.end(), {0x49, 0x48, 0x41, 0x56, 0x45, 0x4f, 0x50, 0x54});  // IHAVEOPT
  Bytes go = Client::info_request("shoal", {});
  put32(hello, kOptGo);
  put32(hello, static_cast<uint32_t>(go.size()));
  hello.insert(hello.end(), go.begin(), go.end());
  served->send(hello);
  serve_while([&] {
    served->expect_greeting();
    EXPECT_EQ(served->go_replies(), kDeviceSize);
    idle->expect_greeting();
    EXPECT_TRUE(idle->closed_by_server());
    served->expect_read(1, 0, 4096);  // past the handshake: no timeout applies
  });
}

TEST_F(NbdServerTest, TcpListenerRefusesClientsBeyondTheLimit) {
  options_.nbd.tcp_address = "127.0.0.1";
  options_.nbd.tcp_port = 0;
  options_.nbd.max_connections = 2;
  ASSERT_TRUE(server().start().ok());
  ASSERT_NE(server().tcp_port(), 0);
  EXPECT_NE(server().describe().find("tcp:127.0.0.1:" + std::to_string(server().tcp_port())),
            std::string::npos);
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 3; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server().tcp_port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    clients.push_back(std::make_unique<Client>(fd));
    // One at a time, so which one is over the limit is known.
    run_until([&] {
      return server().connection_count() + server().refused_connections() == clients.size();
    });
  }
  serve_while([&] {
    clients[0]->handshake();
    clients[1]->handshake();
    EXPECT_TRUE(clients[2]->closed_by_server());
    clients[0]->go();
    clients[0]->expect_read(1, 0, 4096);
  });
  EXPECT_EQ(server().refused_connections(), 1u);
}

TEST_F(NbdServerTest, UnixSocketReplacesAStaleFileButNotALiveServer) {
  test::TempDir dir("shoal-nbd");
  ASSERT_FALSE(dir.path().empty());
  options_.nbd.unix_socket = dir.path() + "/nbd.sock";

  // A socket file left by a dead server: bound, never listened on, closed.
  int stale = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, options_.nbd.unix_socket.c_str());
  ASSERT_EQ(bind(stale, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(stale);

  Status started = server().start();
  ASSERT_TRUE(started.ok()) << started.error().describe();
  NbdServer second(options_, loop_, device_);
  Status refused = second.start();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("in use"), std::string::npos);

  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  Client c(fd);
  serve_while([&] {
    c.start_transmission();
    c.expect_read(1, 0, 4096);
  });
  server().stop();
  struct stat st {};
  EXPECT_NE(lstat(options_.nbd.unix_socket.c_str(), &st), 0) << "the socket file was left behind";
}

TEST_F(NbdServerTest, StartNeedsSomewhereToListen) {
  Status s = server().start();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kInvalidArgument);
  options_.nbd.tcp_address = "localhost";  // a name, not an address
  server_.reset();
  s = server().start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("localhost"), std::string::npos);
}

TEST(FrontendFactory, MakesKnownFrontendsAndNamesTheOthers) {
  PollReactor loop;
  PatternDevice device(loop, 4096);
  FrontendOptions options;
  for (std::string_view name : frontend_names()) {
    auto frontend = make_frontend(name, options, loop, device);
    ASSERT_TRUE(frontend.ok()) << name;
    EXPECT_NE((*frontend)->describe().find(name), std::string::npos);
  }
  auto unknown = make_frontend("floppy", options, loop, device);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(unknown.error().message.find("nbd"), std::string::npos);
}

}  // namespace
}  // namespace shoal
