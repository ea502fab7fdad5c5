// The control socket: commands with and without a body, errors in both directions, the file's
// permissions and removal, and the blocking client.
#include "daemon/control_socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include "common/poll_reactor.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class ControlSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.empty()) << "mkdtemp: " << std::strerror(errno);
    path_ = dir_ + "/control.sock";
    std::vector<ControlCommand> commands;
    commands.push_back({"status", false, [](std::string_view) -> Result<std::string> {
                          return std::string("pid: 1\n");
                        }});
    commands.push_back({"hints", true, [this](std::string_view body) -> Result<std::string> {
                          received_ = std::string(body);
                          return "bytes: " + std::to_string(body.size()) + "\n";
                        }});
    commands.push_back({"fail", false, [](std::string_view) -> Result<std::string> {
                          return Error(ErrorKind::kUnsupported, "not in this mode");
                        }});
    auto control = ControlSocket::start(path_, loop_, std::move(commands));
    ASSERT_TRUE(control.ok()) << control.error().describe();
    control_ = std::move(*control);
  }
  void TearDown() override { control_.reset(); }

  template <class F>
  auto serve_while(F client) {
    auto done = std::async(std::launch::async, client);
    while (done.wait_for(0s) != std::future_status::ready) loop_.run_once(5ms);
    return done.get();
  }
  Result<std::string> request(std::string_view command, std::string_view body = {}) {
    return serve_while([&] { return control_request(path_, command, body); });
  }

  test::TempDir temp_{"shoal-control"};
  std::string dir_{temp_.path()};
  PollReactor loop_;
  std::string path_;
  std::string received_;
  std::unique_ptr<ControlSocket> control_;
};

TEST_F(ControlSocketTest, CommandWithoutBodyIsAnsweredAtItsNewline) {
  auto reply = request("status");
  ASSERT_TRUE(reply.ok()) << reply.error().describe();
  EXPECT_EQ(*reply, "pid: 1\n");
  EXPECT_EQ(control_->path(), path_);
  struct stat st{};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "only the owner may control the daemon";
}

// A raw client that keeps its side open still gets the answer: the newline ends the request.
TEST_F(ControlSocketTest, RawClientWithoutShutdownIsAnswered) {
  std::string reply = serve_while([&] {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      ::send(fd, "status\n", 7, MSG_NOSIGNAL);
      char buf[256];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  });
  EXPECT_EQ(reply, "ok\npid: 1\n");
}

TEST_F(ControlSocketTest, BodyRunsToTheClientsShutdown) {
  std::string body;
  for (int i = 0; i < 50000; ++i) body += "train/class-" + std::to_string(i % 100) + "/img.jpg\n";
  auto reply = request("hints", body);
  ASSERT_TRUE(reply.ok()) << reply.error().describe();
  EXPECT_EQ(*reply, "bytes: " + std::to_string(body.size()) + "\n");
  EXPECT_EQ(received_, body) << "the body arrives whole, byte for byte";

  auto empty = request("hints");
  ASSERT_TRUE(empty.ok()) << empty.error().describe();
  EXPECT_EQ(*empty, "bytes: 0\n");
}

TEST_F(ControlSocketTest, ErrorsComeBackAsErrors) {
  auto failed = request("fail");
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("not in this mode"), std::string::npos)
      << failed.error().message;
  auto unknown = request("reboot");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("unknown command 'reboot'"), std::string::npos)
      << unknown.error().message;
  EXPECT_NE(unknown.error().message.find("status, hints, fail"), std::string::npos)
      << unknown.error().message;
  auto after = request("status");
  EXPECT_TRUE(after.ok()) << "the socket keeps serving after errors";
}

TEST_F(ControlSocketTest, NobodyListeningIsANetworkError) {
  auto reply = control_request(dir_ + "/absent.sock", "status", {}, 1s);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().kind, ErrorKind::kNetwork);
  EXPECT_NE(reply.error().message.find("absent.sock"), std::string::npos);
}

TEST_F(ControlSocketTest, SocketFileGoesWithTheControlSocket) {
  EXPECT_TRUE(fs::exists(path_));
  control_.reset();
  EXPECT_FALSE(fs::exists(path_));
}

}  // namespace
}  // namespace shoal
