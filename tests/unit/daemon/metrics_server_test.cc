// The metrics endpoint and the request server under it: HTTP answers, listen addresses (TCP
// loopback only, Unix sockets with stale-file handling), and the limits that keep clients from
// holding memory or slots.
#include "daemon/metrics_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "common/poll_reactor.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

int connect_to(const ListenAddress& a) {
  if (a.kind == ListenAddress::Kind::kUnix) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, a.path.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(a.port);
  inet_pton(AF_INET, a.host.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads until the server closes the connection.
std::string read_to_end(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

std::string roundtrip(const ListenAddress& a, const std::string& request) {
  int fd = connect_to(a);
  if (fd < 0) return "connect failed";
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string reply = read_to_end(fd);
  ::close(fd);
  return reply;
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.empty()) << "mkdtemp: " << std::strerror(errno); }

  // Runs the loop on this thread while `client` runs on another.
  template <class F>
  auto serve_while(F client) {
    auto done = std::async(std::launch::async, client);
    while (done.wait_for(0s) != std::future_status::ready) loop_.run_once(5ms);
    return done.get();
  }

  std::unique_ptr<MetricsServer> start(const std::string& listen) {
    auto server = MetricsServer::start(listen, loop_, [this] {
      ++renders_;
      return std::string("# TYPE shoal_test_total counter\nshoal_test_total 42\n");
    });
    EXPECT_TRUE(server.ok()) << server.error().describe();
    return server.ok() ? std::move(*server) : nullptr;
  }

  test::TempDir temp_{"shoal-metrics"};
  std::string dir_{temp_.path()};
  PollReactor loop_;
  int renders_ = 0;
};

TEST_F(MetricsServerTest, ServesPrometheusTextOnGetMetrics) {
  auto server = start("127.0.0.1:0");
  ASSERT_NE(server, nullptr);
  ASSERT_NE(server->address().port, 0) << "port 0 picks a free port";
  EXPECT_EQ(server->describe(),
            "http://127.0.0.1:" + std::to_string(server->address().port) + "/metrics");
  std::string reply = serve_while([&] {
    return roundtrip(server->address(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  });
  const std::string body = "# TYPE shoal_test_total counter\nshoal_test_total 42\n";
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200 OK\r\n")) << reply;
  EXPECT_NE(reply.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << reply;
  EXPECT_NE(reply.find("Content-Length: " + std::to_string(body.size()) + "\r\n"),
            std::string::npos)
      << reply;
  EXPECT_TRUE(reply.ends_with("\r\n\r\n" + body)) << reply;
  EXPECT_EQ(renders_, 1);
}

TEST_F(MetricsServerTest, HeadQueryStringsAndErrors) {
  auto server = start("127.0.0.1:0");
  ASSERT_NE(server, nullptr);
  const ListenAddress& a = server->address();
  std::string head = serve_while([&] { return roundtrip(a, "HEAD /metrics HTTP/1.0\r\n\r\n"); });
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200 OK")) << head;
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << "HEAD has no body: " << head;
  std::string query = serve_while([&] { return roundtrip(a, "GET /metrics?x=1 HTTP/1.1\n\n"); });
  EXPECT_TRUE(query.starts_with("HTTP/1.1 200 OK")) << query;
  std::string missing = serve_while([&] { return roundtrip(a, "GET /other HTTP/1.1\r\n\r\n"); });
  EXPECT_TRUE(missing.starts_with("HTTP/1.1 404")) << missing;
  std::string post = serve_while([&] { return roundtrip(a, "POST /metrics HTTP/1.1\r\n\r\n"); });
  EXPECT_TRUE(post.starts_with("HTTP/1.1 405")) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD"), std::string::npos) << post;
  std::string garbage = serve_while([&] { return roundtrip(a, "hello there\r\n\r\n"); });
  EXPECT_TRUE(garbage.starts_with("HTTP/1.1 400")) << garbage;
  std::string huge = serve_while([&] { return roundtrip(a, std::string(20000, 'A')); });
  EXPECT_TRUE(huge.starts_with("HTTP/1.1 431")) << huge.substr(0, 100);
  EXPECT_EQ(renders_, 2) << "only the two good GET/HEAD requests render";
  EXPECT_EQ(server->address().port, a.port);
}

TEST_F(MetricsServerTest, ServesOnAUnixSocketAndRemovesIt) {
  std::string path = dir_ + "/metrics.sock";
  {
    auto server = start("unix:" + path);
    ASSERT_NE(server, nullptr);
    EXPECT_EQ(server->describe(), "unix:" + path);
    std::string reply = serve_while([&] {
      return roundtrip(server->address(), "GET /metrics HTTP/1.1\r\n\r\n");
    });
    EXPECT_TRUE(reply.starts_with("HTTP/1.1 200 OK")) << reply;
    EXPECT_TRUE(fs::exists(path));
  }
  EXPECT_FALSE(fs::exists(path)) << "the socket file goes with the server";
}

TEST_F(MetricsServerTest, StaleSocketIsReplacedLiveOneRefused) {
  std::string path = dir_ + "/m.sock";
  int stale = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(stale, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(stale);  // bound, never listened: a dead process's leftover
  auto server = start("unix:" + path);
  ASSERT_NE(server, nullptr);
  auto second = MetricsServer::start("unix:" + path, loop_, [] { return std::string(); });
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("in use"), std::string::npos) << second.error().message;
  EXPECT_TRUE(fs::exists(path)) << "the refused server must not remove the live socket";

  std::string file = dir_ + "/plain";
  ::close(::creat(file.c_str(), 0600));
  auto over_file = MetricsServer::start("unix:" + file, loop_, [] { return std::string(); });
  ASSERT_FALSE(over_file.ok());
  EXPECT_NE(over_file.error().message.find("not a socket"), std::string::npos);
}

TEST(ListenAddressTest, ParsesLoopbackAndUnixOnly) {
  auto v4 = parse_listen_address("127.0.0.1:9109");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 9109);
  auto v6 = parse_listen_address("[::1]:80");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->to_string(), "[::1]:80");
  auto local = parse_listen_address("localhost:9");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->host, "127.0.0.1");
  auto unix_socket = parse_listen_address("unix:/run/shoal/m.sock");
  ASSERT_TRUE(unix_socket.ok());
  EXPECT_EQ(unix_socket->kind, ListenAddress::Kind::kUnix);
  EXPECT_EQ(unix_socket->path, "/run/shoal/m.sock");
  for (const char* bad : {"0.0.0.0:9109", "10.1.2.3:80", "[::]:80", "127.0.0.1", "127.0.0.1:x",
                          "127.0.0.1:65536", "unix:relative.sock", "example.com:80"}) {
    auto parsed = parse_listen_address(bad);
    ASSERT_FALSE(parsed.ok()) << "accepted " << bad;
    EXPECT_NE(parsed.error().message.find(bad), std::string::npos) << parsed.error().message;
  }
}

// The RequestServer's limits, with an echo protocol: a request is one line.
class RequestServerTest : public MetricsServerTest {
 protected:
  std::unique_ptr<RequestServer> echo(RequestServer::Limits limits) {
    auto address = parse_listen_address("unix:" + dir_ + "/echo.sock");
    EXPECT_TRUE(address.ok());
    auto server = RequestServer::listen(
        *address, loop_,
        [](std::string_view in, bool eof) { return eof || in.find('\n') != std::string::npos; },
        [](std::string_view request) { return "echo " + std::string(request); }, limits);
    EXPECT_TRUE(server.ok()) << server.error().describe();
    return server.ok() ? std::move(*server) : nullptr;
  }
};

TEST_F(RequestServerTest, ManyClientsAtOnceEachGetTheirAnswer) {
  auto server = echo({});
  ASSERT_NE(server, nullptr);
  struct stat st{};
  ASSERT_EQ(::stat((dir_ + "/echo.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  bool all = serve_while([&] {
    std::vector<std::future<bool>> clients;
    for (int i = 0; i < 32; ++i) {
      clients.push_back(std::async(std::launch::async, [&, i] {
        std::string line = "client " + std::to_string(i) + "\n";
        return roundtrip(server->address(), line) == "echo " + line;
      }));
    }
    bool ok = true;
    for (auto& c : clients) ok = c.get() && ok;
    return ok;
  });
  EXPECT_TRUE(all);
  EXPECT_EQ(server->connection_count(), 0u);
}

TEST_F(RequestServerTest, SilentClientsAreDroppedAndExtraConnectionsRefused) {
  RequestServer::Limits limits;
  limits.timeout = 200ms;
  limits.max_connections = 2;
  auto server = echo(limits);
  ASSERT_NE(server, nullptr);
  std::vector<std::string> replies = serve_while([&] {
    int a = connect_to(server->address());
    int b = connect_to(server->address());
    std::this_thread::sleep_for(50ms);  // let the server accept both before the third
    int c = connect_to(server->address());
    std::vector<std::string> out = {read_to_end(c), read_to_end(a), read_to_end(b)};
    for (int fd : {a, b, c}) ::close(fd);
    return out;
  });
  // The third is closed at once, the two silent ones at their timeout; none gets an answer.
  EXPECT_EQ(replies, (std::vector<std::string>{"", "", ""}));
  EXPECT_EQ(server->connection_count(), 0u);
  std::string after = serve_while([&] { return roundtrip(server->address(), "again\n"); });
  EXPECT_EQ(after, "echo again\n") << "the server keeps serving";
}

TEST_F(RequestServerTest, OversizedRequestGetsTheTooLargeReply) {
  RequestServer::Limits limits;
  limits.max_request = 1000;
  limits.too_large_reply = "too large\n";
  auto server = echo(limits);
  ASSERT_NE(server, nullptr);
  std::string reply = serve_while([&] { return roundtrip(server->address(), std::string(5000, 'x')); });
  EXPECT_EQ(reply, "too large\n");
}

}  // namespace
}  // namespace shoal
