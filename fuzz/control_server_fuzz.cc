// The control server (common/control.h) on a real Unix socket: the input is everything one
// client sends before shutting down its side. Small limits, so that the line and body limits
// are reached too. Whatever was sent (unless nothing at all), the server must answer with a
// reply in the wire format (decode_control_reply accepts it) and close the connection.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/control.h"
#include "common/poll_reactor.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/temp_file.h"

using namespace shoal;

namespace {

struct Harness {
  PollReactor loop;
  std::unique_ptr<ControlServer> server;
  Harness() {
    std::vector<ControlCommand> commands;
    commands.push_back(ControlCommand::sync("status", [](const ControlRequest& r) {
      ControlReply reply;
      for (const std::string& w : r.words) reply.add("word", w);
      return reply;
    }));
    commands.push_back(ControlCommand::sync(
        "hints",
        [](const ControlRequest& r) {
          ControlReply reply;
          reply.add("bytes", std::to_string(r.body.size()));
          return reply;
        },
        /*takes_body=*/true));
    commands.push_back(ControlCommand::sync(
        "stats", [](const ControlRequest&) { return ControlReply::document("x 1\n"); }));
    ControlLimits limits;
    limits.max_line = 256;
    limits.max_body = 1024;
    limits.max_buffered = 4096;
    auto listening =
        ControlServer::listen(loop, shoal::fuzz::scratch_dir() + "/control.sock",
                              std::move(commands), limits);
    FUZZ_CHECK(listening.ok());
    server = std::move(*listening);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness* h = new Harness;
  int client = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  FUZZ_CHECK(client >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, h->server->path().c_str(), sizeof addr.sun_path - 1);
  FUZZ_CHECK(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);

  std::string reply;
  size_t sent = 0;
  bool eof = false, shut = false;
  for (int round = 0; round < 100000 && !eof; ++round) {
    if (sent < size) {
      ssize_t n = ::send(client, data + sent, size - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN) sent = size;  // the server hung up early
    }
    if (sent == size && !shut) {
      ::shutdown(client, SHUT_WR);
      shut = true;
    }
    h->loop.run_once(std::chrono::milliseconds(0));
    char buffer[4096];
    for (;;) {
      ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
      if (n > 0) {
        reply.append(buffer, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || errno != EAGAIN) eof = true;
      break;
    }
  }
  ::close(client);
  FUZZ_CHECK(eof);
  // Connecting and leaving is a liveness probe, closed without an answer.
  if (size == 0) {
    FUZZ_CHECK(reply.empty());
    return 0;
  }
  auto decoded = decode_control_reply(reply);
  if (!decoded.ok()) std::fprintf(stderr, "reply: %s\n", decoded.error().message.c_str());
  FUZZ_CHECK(decoded.ok());
  for (int i = 0; i < 100 && h->server->connection_count() > 0; ++i)
    h->loop.run_once(std::chrono::milliseconds(0));
  FUZZ_CHECK(h->server->connection_count() == 0);
  return 0;
}
