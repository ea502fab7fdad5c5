#include "store/http/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "common/poll_reactor.h"
#include "tests/support/http_test_server.h"

namespace shoal {
namespace {

using Received = HttpTestServer::Request;
using Reply = HttpTestServer::Reply;

Reply echo(const Received& r) {
  return Reply{http_reply(200, r.body, "X-Method: " + r.method + "\r\n")};
}

HttpRequest request_to(const HttpTestServer& server, std::string method, std::string path) {
  HttpRequest req;
  req.scheme = "http";
  req.host = server.host();
  req.method = std::move(method);
  req.path = std::move(path);
  return req;
}

std::unique_ptr<HttpClient> make_client(Reactor& loop, HttpClientOptions options = {}) {
  auto client = HttpClient::create(loop, options);
  if (!client.ok()) {
    ADD_FAILURE() << client.error().describe();
    return nullptr;
  }
  return std::move(client).value();
}

// Sends one request and runs the loop until its callback ran.
Result<HttpResponse> exchange(PollReactor& loop, HttpClient& client, HttpRequest req) {
  std::optional<Result<HttpResponse>> out;
  client.send(std::move(req), [&](Result<HttpResponse> r) { out.emplace(std::move(r)); });
  if (!loop.run_until([&] { return out.has_value(); }))
    return Error(ErrorKind::kInternal, "the loop went idle before the callback ran");
  return std::move(*out);
}

TEST(HttpClient, GetReturnsStatusLowerCasedHeadersAndBodyNeverInline) {
  HttpTestServer server([](const Received&) {
    return Reply{http_reply(200, "hello", "X-Custom-Header:  Mixed Value \r\n")};
  });
  PollReactor loop;
  auto client = make_client(loop);
  ASSERT_NE(client, nullptr);
  std::optional<Result<HttpResponse>> out;
  client->send(request_to(server, "GET", "/a"), [&](Result<HttpResponse> r) { out.emplace(r); });
  EXPECT_FALSE(out.has_value()) << "callback ran inline from send()";
  ASSERT_TRUE(loop.run_until([&] { return out.has_value(); }));
  ASSERT_TRUE(out->ok()) << out->error().describe();
  const HttpResponse& resp = out->value();
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "hello");
  ASSERT_NE(resp.header("x-custom-header"), nullptr);
  EXPECT_EQ(*resp.header("x-custom-header"), "Mixed Value");
  for (const auto& [name, value] : resp.headers) {
    for (char c : name) EXPECT_FALSE(std::isupper(static_cast<unsigned char>(c))) << name;
  }
  EXPECT_EQ(client->requests_sent(), 1u);
  EXPECT_EQ(client->in_flight(), 0u);
}

TEST(HttpClient, HttpErrorStatusIsAResponseNotAnError) {
  HttpTestServer server([](const Received&) { return Reply{http_reply(404, "<Error/>")}; });
  PollReactor loop;
  auto client = make_client(loop);
  ASSERT_NE(client, nullptr);
  auto r = exchange(loop, *client, request_to(server, "GET", "/missing"));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "<Error/>");
}

// A 2xx body lands in the caller's memory (split over several iovecs); an error document and
// a body bigger than that memory land in `body` as before, the memory's first bytes notwithstanding.
TEST(HttpClient, ABodyThatFitsLandsInTheCallersMemory) {
  std::string big(300 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  HttpTestServer server([&](const Received& r) {
    if (r.path() == "/err") return Reply{http_reply(412, "<Error>PreconditionFailed</Error>")};
    if (r.path() == "/small") return Reply{http_reply(200, big.substr(0, 1000))};
    return Reply{http_reply(200, big)};
  });
  PollReactor loop;
  auto client = make_client(loop);
  ASSERT_NE(client, nullptr);
  std::string a(100 * 1024, '-'), b(250 * 1024, '-');
  auto into = [&] {
    return std::vector<iovec>{iovec{a.data(), a.size()}, iovec{b.data(), b.size()}};
  };

  HttpRequest req = request_to(server, "GET", "/big");
  req.response_into = into();
  auto r = exchange(loop, *client, req);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->body_in_place);
  EXPECT_EQ(r->body_placed, big.size());
  EXPECT_EQ(r->body_size(), big.size());
  EXPECT_TRUE(r->body.empty());
  EXPECT_TRUE(a + b.substr(0, big.size() - a.size()) == big);

  req = request_to(server, "GET", "/err");
  req.response_into = into();
  r = exchange(loop, *client, req);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->status, 412);
  EXPECT_FALSE(r->body_in_place);
  EXPECT_EQ(r->body, "<Error>PreconditionFailed</Error>");

  std::string tiny(600, '-');
  req = request_to(server, "GET", "/small");
  req.response_into = {iovec{tiny.data(), 500}, iovec{tiny.data() + 500, 100}};
  r = exchange(loop, *client, req);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_FALSE(r->body_in_place) << "1000 bytes do not fit in 600";
  EXPECT_EQ(r->body, big.substr(0, 1000));
}

TEST(HttpClient, SendsHeadersAndEncodedTargetWithoutNormalizingDotSegments) {
  HttpTestServer server(echo);
  PollReactor loop;
  auto client = make_client(loop);
  ASSERT_NE(client, nullptr);
  HttpRequest req = request_to(server, "GET", "/b/a b//./../c+d%");
  req.query = {{"list-type", "2"}, {"prefix", "x/y z"}, {"uploads", ""}};
  req.headers = {{"X-Amz-Date", "20240101T000000Z"}, {"Range", "bytes=1-2"}};
  auto r = exchange(loop, *client, req);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  auto got = server.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "GET");
  EXPECT_EQ(got[0].target, "/b/a%20b//./../c%2Bd%25?list-type=2&prefix=x%2Fy%20z&uploads");
  auto has = [&](std::string_view name, std::string_view value) {
    for (const auto& [n, v] : got[0].headers)
      if (strcasecmp(n.c_str(), std::string(name).c_str()) == 0 && v == value) return true;
    return false;
  };
  EXPECT_TRUE(has("X-Amz-Date", "20240101T000000Z"));
  EXPECT_TRUE(has("Range", "bytes=1-2"));
  EXPECT_TRUE(has("Host", server.host()));
  for (const auto& [n, v] : got[0].headers) {
    EXPECT_NE(strcasecmp(n.c_str(), "expect"), 0) << "no 100-continue round trip";
    EXPECT_NE(strcasecmp(n.c_str(), "accept"), 0) << "no unsigned Accept header";
  }
}

TEST(HttpClient, MethodsAndBodies) {
  HttpTestServer server(echo);
  PollReactor loop;
  auto client = make_client(loop);
  ASSERT_NE(client, nullptr);

  HttpRequest put = request_to(server, "PUT", "/k");
  put.body = Body::from_string("payload");
  auto r = exchange(loop, *client, put);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->body, "payload");
  EXPECT_EQ(*r->header("x-method"), "PUT");

  HttpRequest empty_put = request_to(server, "PUT", "/empty");
  r = exchange(loop, *client, empty_put);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(server.received().back().method, "PUT");

  HttpRequest post = request_to(server, "POST", "/k");
  post.query = {{"uploads", ""}};
  r = exchange(loop, *client, post);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(*r->header("x-method"), "POST");

  r = exchange(loop, *client, request_to(server, "DELETE", "/k"));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(*r->header("x-method"), "DELETE");

  HttpRequest head = request_to(server, "HEAD", "/k");
  r = exchange(loop, *client, head);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(*r->header("x-method"), "HEAD");
  EXPECT_EQ(r->body, "");
}

// The client hands a finished transfer's curl handle to the next request: nothing of one
// request (a HEAD's no-body, an upload, a custom method, headers, a caller's memory) may leak
// into the next.
TEST(HttpClient, ARecycledHandleCarriesNothingOverFromItsLastRequest) {
  HttpTestServer server(echo);
  PollReactor loop;
  auto client = make_client(loop);
  ASSERT_NE(client, nullptr);
  for (int round = 0; round < 3; ++round) {
    HttpRequest head = request_to(server, "HEAD", "/k");
    auto r = exchange(loop, *client, head);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->body, "");

    HttpRequest put = request_to(server, "PUT", "/k");
    put.body = Body::from_string("payload " + std::to_string(round));
    put.headers.emplace_back("X-Only-Once", "put");
    r = exchange(loop, *client, put);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->body, "payload " + std::to_string(round));

    // A GET after a HEAD and a PUT on the same handle: a GET, with a body, without the header.
    HttpRequest get = request_to(server, "GET", "/k");
    r = exchange(loop, *client, get);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(*r->header("x-method"), "GET");
    const Received got = server.received().back();
    EXPECT_EQ(got.method, "GET");
    EXPECT_EQ(got.body, "");
    EXPECT_EQ(got.header("x-only-once"), nullptr);

    HttpRequest del = request_to(server, "DELETE", "/k");
    r = exchange(loop, *client, del);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(server.received().back().method, "DELETE");
  }
  EXPECT_EQ(server.received().size(), 12u);
}

TEST(HttpClient, UploadsAFileRegionWithoutLoadingTheFile) {
  HttpTestServer server(echo);
  auto path = std::filesystem::temp_directory_path() /
              ("shoal_http_body_" + std::to_string(::getpid()));
  std::string content;
  for (int i = 0; i < (1 << 20); ++i) content.push_back(static_cast<char>((i * 131) % 251));
  std::ofstream(path, std::ios::binary) << content;

  PollReactor loop;
  auto client = make_client(loop);
  ASSERT_NE(client, nullptr);
  HttpRequest put = request_to(server, "PUT", "/part");
  put.body = Body::from_file(path, 1000, 300000);
  auto r = exchange(loop, *client, put);
  std::filesystem::remove(path);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->body.size(), 300000u);
  EXPECT_TRUE(r->body == content.substr(1000, 300000));
}

TEST(HttpClient, UnreadableOrShortBodyFileIsALocalError) {
  HttpTestServer server(echo);
  PollReactor loop;
  auto client = make_client(loop);
  ASSERT_NE(client, nullptr);

  std::optional<Result<HttpResponse>> out;
  HttpRequest put = request_to(server, "PUT", "/x");
  put.body = Body::from_file("/nonexistent/shoal/body", 0, 10);
  client->send(put, [&](Result<HttpResponse> res) { out.emplace(std::move(res)); });
  EXPECT_FALSE(out.has_value()) << "callback ran inline from send()";
  ASSERT_TRUE(loop.run_until([&] { return out.has_value(); }));
  ASSERT_FALSE(out->ok());
  EXPECT_EQ(out->error().kind, ErrorKind::kNotFound);
  EXPECT_NE(out->error().message.find("/nonexistent/shoal/body"), std::string::npos);

  auto path = std::filesystem::temp_directory_path() /
              ("shoal_http_short_" + std::to_string(::getpid()));
  std::ofstream(path, std::ios::binary) << "0123456789";
  put.body = Body::from_file(path, 5, 100);  // the file ends 95 bytes early
  auto r = exchange(loop, *client, put);
  std::filesystem::remove(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kIo) << r.error().describe();
  EXPECT_NE(r.error().message.find("shorter"), std::string::npos) << r.error().describe();
}

TEST(HttpClient, ConnectionRefusedIsANetworkError) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);  // nothing listens on this port now

  PollReactor loop;
  auto client = make_client(loop);
  ASSERT_NE(client, nullptr);
  HttpRequest req;
  req.scheme = "http";
  req.host = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  req.path = "/k";
  auto r = exchange(loop, *client, req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kNetwork) << r.error().describe();
  EXPECT_NE(r.error().message.find("GET " + req.host + "/k"), std::string::npos)
      << r.error().describe();
}

TEST(HttpClient, TruncatedBodyIsANetworkError) {
  HttpTestServer server([](const Received&) {
    return Reply{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b", /*close=*/true};
  });
  PollReactor loop;
  auto client = make_client(loop);
  ASSERT_NE(client, nullptr);
  auto r = exchange(loop, *client, request_to(server, "GET", "/k"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kNetwork) << r.error().describe();
  EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().describe();
}

TEST(HttpClient, ResetBeforeAnswerIsANetworkError) {
  HttpTestServer server([](const Received&) { return Reply{"", /*close=*/true}; });
  PollReactor loop;
  auto client = make_client(loop);
  ASSERT_NE(client, nullptr);
  auto r = exchange(loop, *client, request_to(server, "GET", "/k"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kNetwork) << r.error().describe();
}

TEST(HttpClient, StalledTransferTimesOut) {
  HttpTestServer server([](const Received&) {
    Reply reply{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome"};
    reply.hang = true;
    return reply;
  });
  PollReactor loop;
  HttpClientOptions options;
  options.stall_timeout = std::chrono::seconds(1);
  auto client = make_client(loop, options);
  ASSERT_NE(client, nullptr);
  auto r = exchange(loop, *client, request_to(server, "GET", "/k"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kTimeout) << r.error().describe();
}

TEST(HttpClient, ReusesOneConnectionForSequentialRequests) {
  HttpTestServer server(echo);
  PollReactor loop;
  auto client = make_client(loop);
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 5; ++i) {
    auto r = exchange(loop, *client, request_to(server, "GET", "/k" + std::to_string(i)));
    ASSERT_TRUE(r.ok()) << r.error().describe();
  }
  EXPECT_EQ(server.requests(), 5);
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpClient, ConcurrentRequestsStayWithinTheHostConnectionLimit) {
  HttpTestServer server(echo);
  PollReactor loop;
  HttpClientOptions options;
  options.max_host_connections = 2;
  auto client = make_client(loop, options);
  ASSERT_NE(client, nullptr);
  int done = 0;
  for (int i = 0; i < 20; ++i) {
    HttpRequest put = request_to(server, "PUT", "/k");
    put.body = Body::from_string(std::string(1000 + i, 'x'));
    client->send(put, [&, i](Result<HttpResponse> r) {
      ++done;
      ASSERT_TRUE(r.ok()) << r.error().describe();
      EXPECT_EQ(r->body.size(), 1000u + i);
    });
  }
  ASSERT_TRUE(loop.run_until([&] { return done == 20; }));
  EXPECT_EQ(server.requests(), 20);
  EXPECT_LE(server.connections(), 2);
}

TEST(HttpClient, DestroyingTheClientDropsInFlightCallbacksAndReleasesTheLoop) {
  HttpTestServer server([](const Received&) {
    Reply reply;
    reply.hang = true;  // never answers
    return reply;
  });
  PollReactor loop;
  auto client = make_client(loop);
  ASSERT_NE(client, nullptr);
  int called = 0;
  for (int i = 0; i < 3; ++i)
    client->send(request_to(server, "GET", "/k"), [&](Result<HttpResponse>) { ++called; });
  ASSERT_TRUE(loop.run_until([&] { return server.requests() == 3; }));
  client.reset();
  EXPECT_EQ(called, 0);
  // Every socket and timer of the client is gone: the loop has nothing left to wait for.
  EXPECT_FALSE(loop.run_once(std::chrono::milliseconds(0)));
  EXPECT_EQ(called, 0);
}

TEST(HttpClient, DestroyingTheClientDropsPendingLocalFailures) {
  PollReactor loop;
  auto client = make_client(loop);
  ASSERT_NE(client, nullptr);
  bool called = false;
  HttpRequest put;
  put.method = "PUT";
  put.host = "127.0.0.1:1";
  put.body = Body::from_file("/nonexistent/shoal/body", 0, 1);
  client->send(put, [&](Result<HttpResponse>) { called = true; });
  client.reset();
  while (loop.run_once(std::chrono::milliseconds(0))) {
  }
  EXPECT_FALSE(called);
}

TEST(HttpClient, ACallbackMayDestroyTheClient) {
  HttpTestServer server(echo);
  PollReactor loop;
  auto client = make_client(loop);
  ASSERT_NE(client, nullptr);
  int called = 0;
  for (int i = 0; i < 4; ++i)
    client->send(request_to(server, "GET", "/k"), [&](Result<HttpResponse> r) {
      ++called;
      EXPECT_TRUE(r.ok());
      client.reset();
    });
  ASSERT_TRUE(loop.run_until([&] { return called > 0; }));
  while (loop.run_once(std::chrono::milliseconds(0))) {
  }
  EXPECT_EQ(called, 1);  // the others were dropped with the client
  EXPECT_EQ(client, nullptr);
}

}  // namespace
}  // namespace shoal
