#include "writer/control.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/fd_io.h"
#include "common/socket.h"
#include "common/unique_fd.h"
#include "store/url_encode.h"

namespace shoal {
namespace {

constexpr size_t kMaxRequest = 64 * 1024;

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(sep, start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Result<UniqueFd> connect_to(const std::string& path) {
  auto fd = connect_unix(path, "control");
  if (!fd.ok() && fd.error().kind == ErrorKind::kNotFound)
    return Error(ErrorKind::kNotFound, "no shoal writer is listening on " + path +
                                           " (is `shoal writer run` started with this config?)");
  return fd;
}

}  // namespace

std::string ControlReply::get(std::string_view name) const {
  for (const auto& [n, v] : fields)
    if (n == name) return v;
  return "";
}

std::string encode_control_request(const std::vector<std::string>& words) {
  std::string line;
  for (const auto& w : words) {
    if (!line.empty()) line += ' ';
    line += w.empty() ? "%00" : uri_encode(w, false);
  }
  return line + "\n";
}

Result<std::vector<std::string>> decode_control_request(std::string_view line) {
  std::vector<std::string> words;
  for (const auto& w : split(line, ' ')) {
    if (w == "%00") {
      words.emplace_back();
      continue;
    }
    SHOAL_ASSIGN(std::string word, uri_decode(w));
    words.push_back(std::move(word));
  }
  return words;
}

std::string encode_control_reply(const ControlReply& reply) {
  std::string out = reply.ok ? "ok\n" : "error " + uri_encode(reply.error, false) + "\n";
  for (const auto& [name, value] : reply.fields)
    out += name + " " + uri_encode(value, false) + "\n";
  return out;
}

Result<ControlReply> decode_control_reply(std::string_view text) {
  auto lines = split(text, '\n');
  if (lines.empty()) return Error(ErrorKind::kServer, "the writer closed the connection without an answer");
  ControlReply reply;
  if (lines[0].starts_with("error ")) {
    reply.ok = false;
    SHOAL_ASSIGN(reply.error, uri_decode(lines[0].substr(6)));
  } else if (lines[0] != "ok") {
    return Error(ErrorKind::kServer, "unexpected answer from the writer: " + lines[0]);
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t space = lines[i].find(' ');
    if (space == std::string::npos) return Error(ErrorKind::kServer, "malformed answer line");
    SHOAL_ASSIGN(std::string value, uri_decode(lines[i].substr(space + 1)));
    reply.add(lines[i].substr(0, space), std::move(value));
  }
  return reply;
}

struct ControlServer::Connection {
  int fd = -1;
  std::string in;
  std::string out;
  bool request_seen = false;
};

Result<std::unique_ptr<ControlServer>> ControlServer::listen(Reactor& reactor, std::string path,
                                                             Handler handler) {
  // Mode 0600: the socket can make the writer upload any file it can read.
  SHOAL_ASSIGN(UnixListener listener,
               UnixListener::listen(path, "control", {.backlog = 64, .mode = 0600}));
  return std::unique_ptr<ControlServer>(
      new ControlServer(reactor, std::move(listener), std::move(handler)));
}

ControlServer::ControlServer(Reactor& reactor, UnixListener listener, Handler handler)
    : reactor_(reactor), listener_(std::move(listener)), handler_(std::move(handler)) {
  reactor_.watch(listener_.fd(), Reactor::kReadable, [this](uint32_t) { accept_all(); });
}

ControlServer::~ControlServer() {
  while (!connections_.empty()) close(connections_.back()->fd);
  reactor_.unwatch(listener_.fd());
  // listener_ closes the socket and removes its file.
}

void ControlServer::accept_all() {
  for (;;) {
    int fd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a client that gave up: nothing to do either way
    auto c = std::make_shared<Connection>();
    c->fd = fd;
    connections_.push_back(c);
    reactor_.watch(fd, Reactor::kReadable, [this, c](uint32_t) { on_readable(c); });
  }
}

void ControlServer::on_readable(const std::shared_ptr<Connection>& c) {
  char buf[4096];
  ssize_t n = ::read(c->fd, buf, sizeof(buf));
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0 || c->request_seen) return close(c->fd);  // gone, or talking past its request
  c->in.append(buf, static_cast<size_t>(n));
  size_t newline = c->in.find('\n');
  if (newline == std::string::npos) {
    if (c->in.size() > kMaxRequest) close(c->fd);
    return;
  }
  c->request_seen = true;
  std::weak_ptr<Connection> weak = c;
  auto words = decode_control_request(std::string_view(c->in).substr(0, newline));
  if (!words.ok() || words->empty())
    return respond(weak, ControlReply::failure("malformed request"));
  handler_(std::move(*words), [this, weak](ControlReply reply) { respond(weak, reply); });
}

void ControlServer::respond(const std::weak_ptr<Connection>& weak, const ControlReply& reply) {
  auto c = weak.lock();
  if (!c || !c->out.empty()) return;  // the client left, or a second answer
  c->out = encode_control_reply(reply);
  reactor_.watch(c->fd, Reactor::kWritable, [this, c](uint32_t) { on_writable(c); });
}

void ControlServer::on_writable(const std::shared_ptr<Connection>& c) {
  ssize_t n = ::send(c->fd, c->out.data(), c->out.size(), MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n < 0 || static_cast<size_t>(n) == c->out.size()) return close(c->fd);
  c->out.erase(0, static_cast<size_t>(n));
}

void ControlServer::close(int fd) {
  auto it = std::find_if(connections_.begin(), connections_.end(),
                         [fd](const auto& c) { return c->fd == fd; });
  if (it == connections_.end()) return;
  reactor_.unwatch(fd);
  ::close(fd);
  connections_.erase(it);
}

Result<ControlReply> control_call(const std::string& socket_path,
                                  const std::vector<std::string>& words) {
  SHOAL_ASSIGN(UniqueFd fd, connect_to(socket_path));
  SHOAL_TRY(write_all(fd.get(), encode_control_request(words), "send to the writer"));
  SHOAL_ASSIGN(std::string received, read_to_end(fd.get(), "read from the writer"));
  return decode_control_reply(received);
}

}  // namespace shoal
