// The daemon's control socket: a Unix socket (mode 0600: whoever may connect may stop the
// daemon) answering one command per connection, served on the Reactor by a RequestServer.
//
// Protocol (text, UTF-8):
//   request:  "<command>\n" then, for commands that take one, a body ending where the client
//             shuts down its side of the connection (shutdown(SHUT_WR)).
//   reply:    "ok\n" followed by the command's output, or "error <message>\n"; then the
//             daemon closes the connection.
// shoald's commands: `status`, `stats` (the Prometheus text), `hints` (body: volume paths, one
// a line, in the order the job will read them), `shutdown`. docs/daemon.md lists them.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/reactor.h"
#include "common/result.h"
#include "daemon/metrics_server.h"

namespace shoal {

struct ControlCommand {
  std::string name;
  bool takes_body = false;
  // The output after "ok\n", or the error whose message follows "error ".
  std::function<Result<std::string>(std::string_view body)> run;
};

class ControlSocket {
 public:
  // The largest request (command and body) accepted: a hint list of about a million paths.
  static constexpr size_t kMaxRequest = 64u << 20;

  // Listens on `path` (a stale socket file is replaced, a live one refused). The file is
  // removed when the ControlSocket is destroyed.
  static Result<std::unique_ptr<ControlSocket>> start(const std::string& path, Reactor& reactor,
                                                      std::vector<ControlCommand> commands);

  const std::string& path() const { return server_->address().path; }

 private:
  explicit ControlSocket(std::vector<ControlCommand> commands) : commands_(std::move(commands)) {}
  const ControlCommand* find(std::string_view name) const;
  bool complete(std::string_view received, bool eof) const;
  std::string answer(std::string_view request) const;

  std::vector<ControlCommand> commands_;
  std::unique_ptr<RequestServer> server_;
};

// The client side (blocking, for `shoal` and tests): sends the command and body, waits at most
// `timeout` for the whole reply and returns the output after "ok\n". An "error …" reply becomes
// an Error carrying its message; a socket nobody serves is kNetwork.
Result<std::string> control_request(const std::string& path, std::string_view command,
                                    std::string_view body = {},
                                    std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace shoal
