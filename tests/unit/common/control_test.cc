// The control protocol (common/control.h): the wire format byte for byte, the server on a
// PollReactor with synchronous and asynchronous handlers, bodies, every refusal, clients that
// misbehave, many clients at once, and the socket file's rules.
#include "common/control.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/fd_io.h"
#include "common/poll_reactor.h"
#include "common/socket.h"
#include "support/serve_while.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// The wire format.

TEST(ControlWire, AwkwardWordsRoundTripOnOneLine) {
  std::vector<std::string> words = {"put",
                                    "/ckpt/a file\nwith newline%and percent",
                                    "",
                                    std::string("nul\0byte", 8),
                                    "tab\there\r\n",
                                    "caf\xc3\xa9",
                                    "plain-._~/:=,"};
  std::string line = encode_control_line(words);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line, whatever the words hold";
  EXPECT_EQ(line.substr(0, 4), "put ");
  EXPECT_NE(line.find("plain-._~/:=,"), std::string::npos) << "printable bytes stay as they are";
  EXPECT_NE(line.find(" /ckpt/a%20file%0Awith%20newline%25and%20percent  nul%00byte "),
            std::string::npos)
      << line;
  auto decoded = decode_control_line(line.substr(0, line.size() - 1));
  ASSERT_TRUE(decoded.ok()) << decoded.error().describe();
  EXPECT_EQ(*decoded, words);
}

TEST(ControlWire, DecodingAcceptsAnyEscapeAndEitherCase) {
  // What Python's urllib.parse.quote(w, safe="") writes, and more escapes than needed.
  auto words = decode_control_line("%70ut %2fckpt%2Fa%20b %7e");
  ASSERT_TRUE(words.ok()) << words.error().describe();
  EXPECT_EQ(*words, (std::vector<std::string>{"put", "/ckpt/a b", "~"}));
  auto value = decode_control_value("upload of a b failed:%0aHTTP 503");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, "upload of a b failed:\nHTTP 503");
}

TEST(ControlWire, MalformedEncodingIsRefusedWithWhere) {
  auto bad = decode_control_line("put %zz");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("word 2"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(decode_control_line("put abc%4").ok()) << "an escape cut short";
  EXPECT_FALSE(decode_control_line("put abc%").ok());
  EXPECT_FALSE(decode_control_line("put a\tb").ok()) << "a raw control byte";
  EXPECT_FALSE(decode_control_line("put a\rb").ok());
  EXPECT_FALSE(decode_control_line("put caf\xc3\xa9").ok()) << "raw bytes >= 0x80";
  EXPECT_FALSE(decode_control_word("a b").ok()) << "a word holds no raw space";
  EXPECT_TRUE(decode_control_value("a b").ok()) << "a value may";
  EXPECT_FALSE(decode_control_value("a\nb").ok());
}

TEST(ControlWire, EmptyWordsAreAdjacentSpaces) {
  auto words = decode_control_line("put  x ");
  ASSERT_TRUE(words.ok());
  EXPECT_EQ(*words, (std::vector<std::string>{"put", "", "x", ""}));
  EXPECT_EQ(encode_control_line({"put", "", "x"}), "put  x\n");
}

TEST(ControlWire, RepliesRoundTripFieldsAndBody) {
  ControlReply ok;
  ok.add("pending_files", "3");
  ok.add("last_error", "upload of a b failed:\nHTTP 503 100%");
  ok.add("unknown_path", "a b");
  ok.add("unknown_path", "");
  ok.body = "# HELP x\n\nx 1\n" + std::string("\0\xff", 2);
  std::string text = encode_control_reply(ok);
  EXPECT_TRUE(text.starts_with("ok\npending_files 3\nlast_error upload of a b failed:%0AHTTP 503 "
                               "100%25\nunknown_path a b\nunknown_path \n\n# HELP x\n"))
      << text;
  auto back = decode_control_reply(text);
  ASSERT_TRUE(back.ok()) << back.error().describe();
  EXPECT_TRUE(back->ok);
  EXPECT_EQ(back->fields, ok.fields);
  EXPECT_EQ(back->body, ok.body) << "the body is everything after the first empty line";
  EXPECT_EQ(back->get("pending_files"), "3");
  EXPECT_EQ(back->get("absent"), "");
  EXPECT_EQ(back->all("unknown_path"), (std::vector<std::string>{"a b", ""}));

  EXPECT_EQ(encode_control_reply(ControlReply::document("x 1\n")), "ok\n\nx 1\n");
  auto failed = decode_control_reply(encode_control_reply(ControlReply::failure("spool\nfull")));
  ASSERT_TRUE(failed.ok());
  EXPECT_FALSE(failed->ok);
  EXPECT_EQ(failed->error, "spool\nfull");
  EXPECT_EQ(encode_control_reply(ControlReply::failure("no such thing")), "error no such thing\n");
}

TEST(ControlWire, GarbageRepliesAreRefused) {
  for (std::string_view text :
       {"", "ok", "maybe\n", "ok\nnovalue\n", "ok\nname value", "ok\n value\n", "error %zz\n",
        "ok\nname a\tb\n", "OK\n"}) {
    auto r = decode_control_reply(text);
    EXPECT_FALSE(r.ok()) << "accepted: " << text;
    if (!r.ok()) {
      EXPECT_EQ(r.error().kind, ErrorKind::kServer);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The server and the client.

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()); }
  void TearDown() override { server_.reset(); }

  void start(ControlLimits limits = {}) {
    std::vector<ControlCommand> commands;
    // Every word after the command comes back as a field, in order.
    commands.push_back(ControlCommand::sync("echo", [](const ControlRequest& r) {
      ControlReply reply;
      for (size_t i = 1; i < r.words.size(); ++i) reply.add("word", r.words[i]);
      return reply;
    }));
    commands.push_back(ControlCommand::sync(
        "hints",
        [this](const ControlRequest& r) {
          received_ = r.body;
          ControlReply reply;
          reply.add("bytes", std::to_string(r.body.size()));
          return reply;
        },
        true));
    commands.push_back(ControlCommand::sync("stats", [](const ControlRequest&) {
      return ControlReply::document("# TYPE x counter\nx 1\n\ny 2\n");
    }));
    commands.push_back(ControlCommand::sync("fail", [](const ControlRequest&) {
      return ControlReply::failure("unsupported: not in this mode");
    }));
    // Answered later, by the test.
    commands.push_back({"wait", false, [this](ControlRequest, ControlRespond respond) {
                          pending_.push_back(std::move(respond));
                        }});
    auto server = ControlServer::listen(loop_, path_, std::move(commands), limits);
    ASSERT_TRUE(server.ok()) << server.error().describe();
    server_ = std::move(*server);
  }

  void serve(const std::function<void()>& script) { test::serve_while(loop_, script); }

  Result<ControlReply> call(const std::vector<std::string>& words, std::string_view body = {},
                            std::chrono::milliseconds timeout = 10s) {
    Result<ControlReply> reply = Error(ErrorKind::kInternal, "not called");
    serve([&] { reply = control_call(path_, words, body, timeout); });
    return reply;
  }

  // Sends raw bytes (shutting our side down when `shut`) and reads the answer to its end.
  static std::string raw(const std::string& path, std::string_view bytes, bool shut = true) {
    auto fd = connect_unix(path, "test");
    if (!fd.ok()) return "connect: " + fd.error().describe();
    if (!write_all(fd->get(), bytes, "send").ok()) return "send failed";
    if (shut) ::shutdown(fd->get(), SHUT_WR);
    auto reply = read_to_end(fd->get(), "read");
    return reply.ok() ? *reply : "read: " + reply.error().describe();
  }
  std::string raw_exchange(std::string_view bytes, bool shut = true) {
    std::string reply;
    serve([&] { reply = raw(path_, bytes, shut); });
    return reply;
  }

  // Runs the loop until `done` holds, at most `limit`.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) loop_.run_once(5ms);
    return done();
  }

  test::TempDir dir_{"shoal-control"};
  std::string path_ = dir_.path() + "/control.sock";
  PollReactor loop_;
  std::unique_ptr<ControlServer> server_;
  std::string received_;
  std::vector<ControlRespond> pending_;
};

TEST_F(ControlServerTest, RoundTripOfAwkwardWords) {
  start();
  std::vector<std::string> words = {"echo", "a b", "line\nbreak", "100%", "", "caf\xc3\xa9"};
  auto reply = call(words);
  ASSERT_TRUE(reply.ok()) << reply.error().describe();
  ASSERT_TRUE(reply->ok) << reply->error;
  EXPECT_EQ(reply->all("word"), std::vector<std::string>(words.begin() + 1, words.end()));
  EXPECT_TRUE(reply->body.empty());
  EXPECT_EQ(server_->path(), path_);
}

TEST_F(ControlServerTest, TheExactBytesOnTheWire) {
  start();
  EXPECT_EQ(raw_exchange("echo a%20b c\n"), "ok\nword a b\nword c\n");
  EXPECT_EQ(raw_exchange("stats\n"), "ok\n\n# TYPE x counter\nx 1\n\ny 2\n");
  EXPECT_EQ(raw_exchange("fail\n"), "error unsupported: not in this mode\n");
  auto stats = call({"stats"});
  ASSERT_TRUE(stats.ok()) << stats.error().describe();
  EXPECT_TRUE(stats->fields.empty());
  EXPECT_EQ(stats->body, "# TYPE x counter\nx 1\n\ny 2\n");
}

TEST_F(ControlServerTest, SocketFileIsPrivateAndGoesWithTheServer) {
  start();
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "only the owner may control the process";
  server_.reset();
  EXPECT_FALSE(fs::exists(path_));
}

TEST_F(ControlServerTest, AStaleSocketIsReplacedALiveOneRefused) {
  {
    UniqueFd dead(::socket(AF_UNIX, SOCK_STREAM, 0));
    auto addr = unix_socket_address(path_, "test");
    ASSERT_TRUE(addr.ok());
    ASSERT_EQ(::bind(dead.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof(*addr)), 0);
  }
  ASSERT_TRUE(fs::exists(path_)) << "a socket file nobody serves";
  start();
  ASSERT_NE(server_, nullptr);

  auto second = ControlServer::listen(loop_, path_, {});
  ASSERT_FALSE(second.ok()) << "two servers on one path";
  EXPECT_NE(second.error().message.find("in use"), std::string::npos) << second.error().message;
  auto still = call({"echo", "x"});
  ASSERT_TRUE(still.ok()) << still.error().describe();
  EXPECT_EQ(still->get("word"), "x") << "the first server keeps its socket";

  std::string plain = dir_.path() + "/plain";
  std::ofstream(plain) << "not a socket";
  EXPECT_FALSE(ControlServer::listen(loop_, plain, {}).ok());
  EXPECT_TRUE(fs::exists(plain)) << "a file that is not a socket is never removed";
}

TEST_F(ControlServerTest, NobodyListeningIsNotFound) {
  auto reply = control_call(dir_.path() + "/absent.sock", {"echo"}, {}, 1s);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().kind, ErrorKind::kNotFound);
  EXPECT_NE(reply.error().message.find("absent.sock"), std::string::npos);
}

TEST_F(ControlServerTest, BodyRunsToTheClientsShutdown) {
  start();
  std::string body;
  for (int i = 0; i < 200000; ++i) body += "train/class-" + std::to_string(i % 100) + "/img.jpg\n";
  body += std::string("\0 odd\r\n\n\xff", 9);
  auto reply = call({"hints"}, body);
  ASSERT_TRUE(reply.ok()) << reply.error().describe();
  ASSERT_TRUE(reply->ok) << reply->error;
  EXPECT_EQ(reply->get("bytes"), std::to_string(body.size()));
  EXPECT_EQ(received_, body) << "the body arrives whole, byte for byte";

  auto empty = call({"hints"});
  ASSERT_TRUE(empty.ok()) << empty.error().describe();
  EXPECT_EQ(empty->get("bytes"), "0");
  EXPECT_TRUE(received_.empty());
}

TEST_F(ControlServerTest, ACommandWithoutBodyIsAnsweredAtItsNewline) {
  start();
  // The client keeps its side open: the answer still comes, then the server's end of input.
  EXPECT_EQ(raw_exchange("echo x\n", false), "ok\nword x\n");
  // Bytes after the line of such a command are read and dropped, never run.
  EXPECT_EQ(raw_exchange("echo y\nfail\n" + std::string(300000, 'z')), "ok\nword y\n");
  auto after = call({"echo", "z"});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->get("word"), "z");
}

TEST_F(ControlServerTest, ErrorsAreClearAndTheServerKeepsServing) {
  start();
  auto failed = call({"fail"});
  ASSERT_TRUE(failed.ok()) << failed.error().describe();
  EXPECT_FALSE(failed->ok);
  EXPECT_EQ(failed->error, "unsupported: not in this mode");

  auto unknown = call({"reboot", "now"});
  ASSERT_TRUE(unknown.ok()) << unknown.error().describe();
  EXPECT_FALSE(unknown->ok);
  EXPECT_EQ(unknown->error, "unknown command 'reboot' (known: echo, hints, stats, fail, wait)");

  std::string malformed = raw_exchange("echo %zz\n");
  EXPECT_TRUE(malformed.starts_with("error malformed request: word 2: ")) << malformed;
  EXPECT_EQ(raw_exchange("\n"), "error empty request: the line names no command\n");
  EXPECT_EQ(raw_exchange("echo no newline"),
            "error the request ended before the newline of its first line\n");
  EXPECT_EQ(raw_exchange(""), "") << "a client that leaves at once gets nothing";

  Result<ControlReply> refused = ControlReply();
  serve([&] { refused = control_request(path_, {"fail"}); });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::kServer);
  EXPECT_EQ(refused.error().message, "unsupported: not in this mode");

  auto after = call({"echo", "still"});
  ASSERT_TRUE(after.ok()) << after.error().describe();
  EXPECT_EQ(after->get("word"), "still");
  EXPECT_TRUE(run_until([&] { return server_->connection_count() == 0; }));
}

TEST_F(ControlServerTest, OversizeRequestsAreRefusedWithoutHoldingThem) {
  ControlLimits limits;
  limits.max_line = 100;
  limits.max_body = 1000;
  start(limits);
  // The client goes on sending after the refusal: the server drains it, then answers.
  auto long_line = call({"echo", std::string(5000, 'x')});
  ASSERT_TRUE(long_line.ok()) << long_line.error().describe();
  EXPECT_FALSE(long_line->ok);
  EXPECT_EQ(long_line->error, "request line longer than 100 bytes");
  std::string endless = raw_exchange(std::string(1 << 20, 'x'));
  EXPECT_EQ(endless, "error request line longer than 100 bytes\n");

  auto big = call({"hints"}, std::string(1001, 'p'));
  ASSERT_TRUE(big.ok()) << big.error().describe();
  EXPECT_FALSE(big->ok);
  EXPECT_EQ(big->error, "hints: body larger than 1000 bytes");
  auto fits = call({"hints"}, std::string(1000, 'p'));
  ASSERT_TRUE(fits.ok()) << fits.error().describe();
  EXPECT_EQ(fits->get("bytes"), "1000");
  EXPECT_TRUE(run_until([&] { return server_->connection_count() == 0; }));
}

TEST_F(ControlServerTest, BufferedBytesAreBoundedOverAllConnections) {
  ControlLimits limits;
  limits.max_body = 1500;
  limits.max_buffered = 2000;
  start(limits);
  // One client holds 1200 bytes of body, unfinished; a second one's 1200 do not fit.
  auto holder = connect_unix(path_, "test");
  ASSERT_TRUE(holder.ok());
  ASSERT_TRUE(write_all(holder->get(), "hints\n" + std::string(1200, 'a'), "send").ok());
  ASSERT_TRUE(run_until([&] { return server_->connection_count() == 1; }));
  loop_.run_once(20ms);
  auto second = call({"hints"}, std::string(1200, 'b'));
  ASSERT_TRUE(second.ok()) << second.error().describe();
  EXPECT_FALSE(second->ok);
  EXPECT_NE(second->error.find("busy"), std::string::npos) << second->error;

  std::string first;
  serve([&] {
    ::shutdown(holder->get(), SHUT_WR);
    auto text = read_to_end(holder->get(), "read");
    first = text.ok() ? *text : text.error().describe();
  });
  EXPECT_EQ(first, "ok\nbytes 1200\n") << "the first request was not disturbed";
  auto later = call({"hints"}, std::string(1200, 'c'));
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->get("bytes"), "1200") << "the budget is given back";
}

TEST_F(ControlServerTest, AsynchronousAnswersComeLaterAndOnlyOnce) {
  start();
  Result<ControlReply> reply = Error(ErrorKind::kInternal, "not called");
  std::atomic<bool> done{false};
  std::thread client([&] {
    reply = control_call(path_, {"wait"}, {}, 10s);
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return pending_.size() == 1; }));
  for (int i = 0; i < 20; ++i) loop_.run_once(5ms);
  EXPECT_FALSE(done) << "no answer before the handler gives one";
  ControlReply later;
  later.add("state", "durable");
  pending_[0](later);
  pending_[0](ControlReply::failure("a second answer is ignored"));
  EXPECT_TRUE(run_until([&] { return done.load(); }));
  client.join();
  ASSERT_TRUE(reply.ok()) << reply.error().describe();
  EXPECT_TRUE(reply->ok) << reply->error;
  EXPECT_EQ(reply->get("state"), "durable");
}

TEST_F(ControlServerTest, AClientThatHangsUpFreesItsPendingConnection) {
  ControlLimits limits;
  limits.hangup_check = 20ms;
  start(limits);
  // A half-closed client (done sending) is still waiting for its answer.
  auto half = connect_unix(path_, "test");
  ASSERT_TRUE(half.ok());
  ASSERT_TRUE(write_all(half->get(), "wait\n", "send").ok());
  ::shutdown(half->get(), SHUT_WR);
  ASSERT_TRUE(run_until([&] { return pending_.size() == 1; }));
  for (int i = 0; i < 20; ++i) loop_.run_once(5ms);
  EXPECT_EQ(server_->connection_count(), 1u);

  // One that closes for good gives its connection back, answer or not.
  auto gone = connect_unix(path_, "test");
  ASSERT_TRUE(gone.ok());
  ASSERT_TRUE(write_all(gone->get(), "wait\n", "send").ok());
  ASSERT_TRUE(run_until([&] { return pending_.size() == 2; }));
  EXPECT_EQ(server_->connection_count(), 2u);
  gone->reset();
  EXPECT_TRUE(run_until([&] { return server_->connection_count() == 1; }))
      << server_->connection_count();
  pending_[1](ControlReply());  // too late: nothing happens

  pending_[0](ControlReply::failure("late, but heard"));
  std::string answer;
  serve([&] {
    auto text = read_to_end(half->get(), "read");
    answer = text.ok() ? *text : text.error().describe();
  });
  EXPECT_EQ(answer, "error late, but heard\n");
  EXPECT_TRUE(run_until([&] { return server_->connection_count() == 0; }));

  ControlRespond stale = pending_[0];
  server_.reset();
  stale(ControlReply());  // after the server is gone: nothing happens either
}

TEST_F(ControlServerTest, AClientThatNeverFinishesIsToldAndDropped) {
  ControlLimits limits;
  limits.timeout = 200ms;
  start(limits);
  auto started = std::chrono::steady_clock::now();
  std::string reply = raw_exchange("ech", false);
  EXPECT_EQ(reply, "error the request did not arrive complete within 200 ms\n");
  EXPECT_GE(std::chrono::steady_clock::now() - started, 150ms);
  // A body that never ends is cut off the same way.
  reply = raw_exchange("hints\npartial", false);
  EXPECT_EQ(reply, "error the request did not arrive complete within 200 ms\n");
  EXPECT_TRUE(run_until([&] { return server_->connection_count() == 0; }));
  auto after = call({"echo", "x"});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->get("word"), "x");
}

TEST_F(ControlServerTest, TheClientGivesUpAtItsTimeout) {
  start();
  auto started = std::chrono::steady_clock::now();
  auto reply = call({"wait"}, {}, 150ms);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().kind, ErrorKind::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 100ms);
}

TEST_F(ControlServerTest, ConnectionsPastTheLimitAreRefused) {
  ControlLimits limits;
  limits.max_connections = 2;
  start(limits);
  std::vector<Result<ControlReply>> waits(2, Error(ErrorKind::kInternal, "not called"));
  std::vector<std::thread> waiting;
  for (auto& w : waits) waiting.emplace_back([&] { w = control_call(path_, {"wait"}, {}, 10s); });
  ASSERT_TRUE(run_until([&] { return pending_.size() == 2; }));
  auto third = call({"echo", "x"});
  ASSERT_TRUE(third.ok()) << third.error().describe();
  EXPECT_FALSE(third->ok);
  EXPECT_EQ(third->error, "too many connections (2) on this control socket; try again");
  for (auto& respond : pending_) respond(ControlReply());
  ASSERT_TRUE(run_until([&] { return server_->connection_count() == 0; }));
  for (auto& t : waiting) t.join();
  for (auto& w : waits) EXPECT_TRUE(w.ok() && w->ok);
  auto now = call({"echo", "x"});
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->get("word"), "x") << "slots come back";
}

TEST_F(ControlServerTest, ConcurrentClientsEachGetTheirOwnAnswer) {
  start();
  constexpr int kClients = 16, kEach = 25;
  std::atomic<int> right{0};
  std::atomic<int> finished{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string word = "client " + std::to_string(t) + "\n#" + std::to_string(i);
        std::string body(static_cast<size_t>(t * 1000 + i), 'b');
        auto echo = control_call(path_, {"echo", word}, {}, 10s);
        auto hints = control_call(path_, {"hints"}, body, 10s);
        if (echo.ok() && echo->ok && echo->get("word") == word && hints.ok() && hints->ok &&
            hints->get("bytes") == std::to_string(body.size()))
          ++right;
      }
      ++finished;
    });
  }
  EXPECT_TRUE(run_until([&] { return finished == kClients; }, 60s));
  for (auto& c : clients) c.join();
  EXPECT_EQ(right, kClients * kEach);
  EXPECT_TRUE(run_until([&] { return server_->connection_count() == 0; }));
}

}  // namespace
}  // namespace shoal
