#include "daemon/control_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/socket.h"

namespace shoal {
namespace {

std::string_view first_line(std::string_view request) {
  return request.substr(0, request.find('\n'));
}

std::string_view body_of(std::string_view request) {
  size_t newline = request.find('\n');
  return newline == std::string_view::npos ? std::string_view() : request.substr(newline + 1);
}

}  // namespace

Result<std::unique_ptr<ControlSocket>> ControlSocket::start(const std::string& path,
                                                            Reactor& reactor,
                                                            std::vector<ControlCommand> commands) {
  SHOAL_ASSIGN(ListenAddress address, parse_listen_address("unix:" + path));
  std::unique_ptr<ControlSocket> control(new ControlSocket(std::move(commands)));
  RequestServer::Limits limits;
  limits.max_request = kMaxRequest;
  limits.too_large_reply = "error request larger than " + std::to_string(kMaxRequest) + " bytes\n";
  limits.unix_mode = 0600;
  limits.timeout = std::chrono::seconds(60);  // room for a large hint list on a busy machine
  ControlSocket* c = control.get();
  SHOAL_ASSIGN(control->server_,
               RequestServer::listen(
                   address, reactor,
                   [c](std::string_view received, bool eof) { return c->complete(received, eof); },
                   [c](std::string_view request) { return c->answer(request); },
                   std::move(limits)));
  return control;
}

const ControlCommand* ControlSocket::find(std::string_view name) const {
  for (const ControlCommand& command : commands_)
    if (command.name == name) return &command;
  return nullptr;
}

// A command without a body is complete at its newline; one with a body when the client shuts
// its side down. An unknown command is complete at once (it is answered with an error).
bool ControlSocket::complete(std::string_view received, bool eof) const {
  if (eof) return true;
  if (received.find('\n') == std::string_view::npos) return false;
  const ControlCommand* command = find(first_line(received));
  return command == nullptr || !command->takes_body;
}

std::string ControlSocket::answer(std::string_view request) const {
  std::string_view name = first_line(request);
  const ControlCommand* command = find(name);
  if (command == nullptr) {
    std::string known;
    for (const ControlCommand& c : commands_) known += (known.empty() ? "" : ", ") + c.name;
    return "error unknown command '" + std::string(name) + "' (known: " + known + ")\n";
  }
  Result<std::string> output = command->run(body_of(request));
  if (!output.ok()) return "error " + output.error().describe() + "\n";
  return "ok\n" + *output;
}

namespace {

// Waits for the socket to be ready for `events`; false when the deadline passed first.
bool wait_ready(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

Status send_all(int fd, std::string_view data, std::chrono::steady_clock::time_point deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_ready(fd, POLLOUT, deadline))
        return Error(ErrorKind::kTimeout, "the daemon did not take the request in time");
    } else if (n < 0 && errno != EINTR) {
      return errno_error("sending to the control socket", errno);
    }
  }
  return {};
}

Result<std::string> receive_all(int fd, std::chrono::steady_clock::time_point deadline) {
  std::string reply;
  char buffer[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      reply.append(buffer, static_cast<size_t>(n));
    } else if (n == 0) {
      return reply;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_ready(fd, POLLIN, deadline))
        return Error(ErrorKind::kTimeout, "the daemon did not answer in time");
    } else if (errno != EINTR) {
      return errno_error("reading from the control socket", errno);
    }
  }
}

Result<std::string> exchange(const std::string& path, std::string_view command,
                             std::string_view body, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto fd = connect_unix(path, "control");
  if (!fd.ok()) {
    Error e = std::move(fd).error();
    if (e.kind == ErrorKind::kNotFound) e.kind = ErrorKind::kNetwork;  // no daemon serves it
    return e;
  }
  SHOAL_TRY(send_all(fd->get(), std::string(command) + "\n" + std::string(body), deadline));
  ::shutdown(fd->get(), SHUT_WR);
  return receive_all(fd->get(), deadline);
}

}  // namespace

Result<std::string> control_request(const std::string& path, std::string_view command,
                                    std::string_view body, std::chrono::milliseconds timeout) {
  Result<std::string> reply = exchange(path, command, body, timeout);
  if (!reply.ok()) return std::move(reply).error().with_context(std::string(command));
  if (reply->starts_with("ok\n")) return reply->substr(3);
  std::string_view text = *reply;
  if (text.starts_with("error ")) text.remove_prefix(6);
  while (text.ends_with('\n')) text.remove_suffix(1);
  if (text.empty()) text = "the daemon closed the connection without an answer";
  return Error(ErrorKind::kServer, std::string(command) + ": " + std::string(text));
}

}  // namespace shoal
