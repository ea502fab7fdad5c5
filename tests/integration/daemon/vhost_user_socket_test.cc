// vhost-user-blk on a real Unix socket, serving an image file through make_frontend(): a front
// end connects by path and reads the device's geometry; a second front end is turned away while
// the first is connected; a live socket is not stolen, a stale one is replaced, and stop()
// removes the socket file.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "common/poll_reactor.h"
#include "daemon/frontends/frontend.h"
#include "daemon/frontends/vhost_user_protocol.h"
#include "daemon/image_file_device.h"
#include "tests/support/temp_dir.h"
#include "tests/support/vhost_user_reply.h"

namespace shoal {
namespace {

constexpr uint64_t kImageBytes = 5 * 4096;

class VhostUserSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    std::string image = dir_.path() + "/image";
    std::ofstream(image, std::ios::binary) << std::string(kImageBytes, 'x');
    auto device = ImageFileDevice::open(image, loop_);
    ASSERT_TRUE(device.ok()) << device.error().message;
    device_ = std::move(*device);
    options_.vhost_user_blk.unix_socket = dir_.path() + "/vhost.sock";
  }
  void TearDown() override {
    for (int fd : clients_) ::close(fd);
    frontend_.reset();
  }

  std::unique_ptr<Frontend> make() {
    auto frontend = make_frontend("vhost-user-blk", options_, loop_, *device_);
    EXPECT_TRUE(frontend.ok());
    return frontend.ok() ? std::move(*frontend) : nullptr;
  }
  int connect_client() {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string& path = options_.vhost_user_blk.unix_socket;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    clients_.push_back(fd);
    return fd;
  }
  void send(int fd, uint32_t request, const void* payload, uint32_t size) {
    std::vector<uint8_t> bytes(sizeof(vhost::Header) + size);
    vhost::Header h{request, vhost::kVersion, size};
    std::memcpy(bytes.data(), &h, sizeof(h));
    if (size > 0) std::memcpy(bytes.data() + sizeof(h), payload, size);
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  // The reply's payload, or nullopt once the server closed the connection.
  std::optional<std::vector<uint8_t>> reply(int fd) {
    auto r = test::read_vhost_reply(loop_, fd);
    if (!r) return std::nullopt;
    return std::move(r->payload);
  }

  PollReactor loop_;
  test::TempDir dir_{"shoal-vhost"};
  std::unique_ptr<ImageFileDevice> device_;
  FrontendOptions options_;
  std::unique_ptr<Frontend> frontend_;
  std::vector<int> clients_;
};

TEST_F(VhostUserSocketTest, FrontEndReadsTheGeometryOverTheSocket) {
  frontend_ = make();
  ASSERT_TRUE(frontend_->start().ok());
  EXPECT_EQ(frontend_->describe(), "vhost-user-blk unix:" + options_.vhost_user_blk.unix_socket);
  int fd = connect_client();
  send(fd, vhost::kGetFeatures, nullptr, 0);
  auto features = reply(fd);
  ASSERT_TRUE(features.has_value());
  ASSERT_EQ(features->size(), 8u);
  uint64_t bits;
  std::memcpy(&bits, features->data(), 8);
  EXPECT_TRUE(bits & vhost::kFeatureBlkRo);

  struct {
    vhost::ConfigHeader h;
    uint8_t bytes[24];
  } request{{0, 24, 0}, {}};
  send(fd, vhost::kGetConfig, &request, sizeof(request));
  auto config = reply(fd);
  ASSERT_TRUE(config.has_value());
  ASSERT_EQ(config->size(), sizeof(request));
  uint64_t capacity;
  uint32_t blk_size;
  std::memcpy(&capacity, config->data() + sizeof(vhost::ConfigHeader), 8);
  std::memcpy(&blk_size, config->data() + sizeof(vhost::ConfigHeader) + 20, 4);
  EXPECT_EQ(capacity, kImageBytes / 512);
  EXPECT_EQ(blk_size, 4096u);
}

TEST_F(VhostUserSocketTest, OneFrontEndAtATimeThenTheNextOne) {
  frontend_ = make();
  ASSERT_TRUE(frontend_->start().ok());
  int first = connect_client();
  send(first, vhost::kGetFeatures, nullptr, 0);
  ASSERT_TRUE(reply(first).has_value());
  int second = connect_client();
  send(second, vhost::kGetFeatures, nullptr, 0);
  EXPECT_FALSE(reply(second).has_value()) << "a second front end must be closed";

  ::close(first);
  clients_.erase(clients_.begin());
  // The server notices the hang-up on its next rounds; then a new front end is served.
  std::optional<std::vector<uint8_t>> answer;
  for (int attempt = 0; attempt < 100 && !answer; ++attempt) {
    loop_.run_once(std::chrono::milliseconds(10));
    int next = connect_client();
    send(next, vhost::kGetFeatures, nullptr, 0);
    answer = reply(next);
  }
  EXPECT_TRUE(answer.has_value());
}

TEST_F(VhostUserSocketTest, LiveSocketIsNotStolenStaleOneIsReplaced) {
  frontend_ = make();
  ASSERT_TRUE(frontend_->start().ok());
  auto intruder = make();
  Status status = intruder->start();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("in use"), std::string::npos) << status.error().message;

  frontend_->stop();
  EXPECT_FALSE(std::filesystem::exists(options_.vhost_user_blk.unix_socket))
      << "stop() removes the socket";

  // A socket file nobody listens on, as a crashed server leaves behind.
  int stale = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string& path = options_.vhost_user_blk.unix_socket;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(stale, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(stale);
  auto successor = make();
  ASSERT_TRUE(successor->start().ok());
  int fd = connect_client();
  send(fd, vhost::kGetQueueNum, nullptr, 0);
  EXPECT_TRUE(reply(fd).has_value());
}

TEST_F(VhostUserSocketTest, NeedsASocketPath) {
  options_.vhost_user_blk.unix_socket.clear();
  frontend_ = make();
  Status status = frontend_->start();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("socket"), std::string::npos);
}

}  // namespace
}  // namespace shoal
