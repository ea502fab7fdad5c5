#include "daemon/metrics_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/socket.h"

namespace shoal {
namespace {

Error bad_address(std::string_view text, std::string_view why) {
  return Error(ErrorKind::kInvalidArgument,
               "listen address '" + std::string(text) + "': " + std::string(why) +
                   " (write \"127.0.0.1:9109\", \"[::1]:9109\" or \"unix:/run/shoal/x.sock\")");
}

Result<uint16_t> parse_port(std::string_view text, std::string_view whole) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 65535)
    return bad_address(whole, "the port must be a number from 0 to 65535");
  return static_cast<uint16_t>(value);
}

bool is_loopback(const std::string& host) {
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  return host == "::1";
}

}  // namespace

std::string ListenAddress::to_string() const {
  if (kind == Kind::kUnix) return "unix:" + path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
  ListenAddress a;
  if (text.starts_with("unix:")) {
    a.kind = ListenAddress::Kind::kUnix;
    a.path = std::string(text.substr(5));
    if (!a.path.starts_with("/")) return bad_address(text, "a Unix socket path must be absolute");
    if (a.path.size() >= sizeof(sockaddr_un::sun_path))
      return bad_address(text, "the Unix socket path is too long");
    return a;
  }
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad_address(text, "no port");
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  a.host = host == "localhost" ? "127.0.0.1" : std::string(host);
  SHOAL_ASSIGN(a.port, parse_port(text.substr(colon + 1), text));
  if (!is_loopback(a.host))
    return bad_address(text, "only loopback addresses (127.0.0.0/8, ::1) or Unix sockets are "
                             "allowed: the endpoint has no authentication");
  return a;
}

struct RequestServer::Connection {
  std::string in;
  std::string out;
  size_t sent = 0;
  bool eof = false;
  Reactor::TimerId timer = 0;
};

Result<std::unique_ptr<RequestServer>> RequestServer::listen(const ListenAddress& address,
                                                             Reactor& reactor, Framer framer,
                                                             Handler handler, Limits limits) {
  ListenAddress bound = address;
  UnixListener unix_listener;
  UniqueFd tcp_fd;
  if (bound.kind == ListenAddress::Kind::kUnix) {
    SHOAL_ASSIGN(unix_listener,
                 UnixListener::listen(bound.path, "Unix",
                                      {.backlog = 64, .mode = limits.unix_mode}));
  } else {
    SHOAL_ASSIGN(TcpListener tcp, listen_tcp(bound.host, bound.port, "loopback", 64));
    bound.port = tcp.port;
    tcp_fd = std::move(tcp.fd);
  }
  std::unique_ptr<RequestServer> server(
      new RequestServer(reactor, std::move(bound), std::move(unix_listener), std::move(tcp_fd),
                        std::move(framer), std::move(handler), std::move(limits)));
  reactor.watch(server->listen_fd_, Reactor::kReadable,
                [s = server.get()](uint32_t) { s->accept_all(); });
  return server;
}

RequestServer::RequestServer(Reactor& reactor, ListenAddress address, UnixListener unix_listener,
                             UniqueFd tcp_listener, Framer framer, Handler handler, Limits limits)
    : reactor_(reactor),
      address_(std::move(address)),
      unix_listener_(std::move(unix_listener)),
      tcp_listener_(std::move(tcp_listener)),
      listen_fd_(unix_listener_.listening() ? unix_listener_.fd() : tcp_listener_.get()),
      framer_(std::move(framer)),
      handler_(std::move(handler)),
      limits_(std::move(limits)) {}

RequestServer::~RequestServer() {
  while (!connections_.empty()) close_connection(connections_.begin()->first);
  reactor_.unwatch(listen_fd_);
  // The listener members close the socket and remove its file.
}

void RequestServer::accept_all() {
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN, or a transient shortage (EMFILE): the listener stays armed
    }
    if (connections_.size() >= limits_.max_connections) {
      ::close(fd);
      continue;
    }
    auto& c = connections_[fd] = std::make_unique<Connection>();
    c->timer = reactor_.add_timer(limits_.timeout, [this, fd] {
      connections_[fd]->timer = 0;
      close_connection(fd);
    });
    reactor_.watch(fd, Reactor::kReadable, [this, fd](uint32_t) { on_readable(fd); });
  }
}

void RequestServer::on_readable(int fd) {
  Connection& c = *connections_.at(fd);
  char buffer[16384];
  while (!c.eof) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      c.in.append(buffer, static_cast<size_t>(n));
      if (c.in.size() > limits_.max_request) return respond(fd, limits_.too_large_reply);
    } else if (n == 0) {
      c.eof = true;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break;
    } else {
      return close_connection(fd);
    }
  }
  if (framer_(c.in, c.eof)) return respond(fd, handler_(c.in));
  if (c.eof) close_connection(fd);
}

// The rest of the request, if any, is ignored: one request per connection.
void RequestServer::respond(int fd, std::string reply) {
  reactor_.unwatch(fd);
  connections_.at(fd)->out = std::move(reply);
  flush(fd);
}

void RequestServer::flush(int fd) {
  Connection& c = *connections_.at(fd);
  while (c.sent < c.out.size()) {
    ssize_t n = ::send(fd, c.out.data() + c.sent, c.out.size() - c.sent,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      c.sent += static_cast<size_t>(n);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      reactor_.watch(fd, Reactor::kWritable, [this, fd](uint32_t) { flush(fd); });
      return;
    } else if (errno != EINTR) {
      break;  // the client went away: nothing more to tell it
    }
  }
  close_connection(fd);
}

void RequestServer::close_connection(int fd) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  if (it->second->timer != 0) reactor_.cancel_timer(it->second->timer);
  reactor_.unwatch(fd);
  ::close(fd);
  connections_.erase(it);
}

namespace {

// A request is complete at the blank line ending its head; a body is never expected.
bool http_head_complete(std::string_view received, bool eof) {
  return eof || received.find("\r\n\r\n") != std::string_view::npos ||
         received.find("\n\n") != std::string_view::npos;
}

std::string http_reply(std::string_view status, std::string_view content_type,
                       std::string_view body, bool with_body, std::string_view extra = {}) {
  std::string reply = "HTTP/1.1 " + std::string(status) + "\r\nContent-Type: " +
                      std::string(content_type) + "\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\nConnection: close\r\n" +
                      std::string(extra) + "\r\n";
  if (with_body) reply += body;
  return reply;
}

std::string plain_error(std::string_view status, std::string_view extra = {}) {
  return http_reply(status, "text/plain; charset=utf-8", std::string(status) + "\n", true, extra);
}

}  // namespace

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(std::string_view listen,
                                                            Reactor& reactor, Render render) {
  SHOAL_ASSIGN(ListenAddress address, parse_listen_address(listen));
  std::unique_ptr<MetricsServer> metrics(new MetricsServer(std::move(render)));
  RequestServer::Limits limits;
  limits.max_request = 8192;
  limits.too_large_reply = plain_error("431 Request Header Fields Too Large");
  limits.unix_mode = 0666;  // read-only numbers: any local scraper may connect
  SHOAL_ASSIGN(
      metrics->server_,
      RequestServer::listen(address, reactor, http_head_complete,
                            [m = metrics.get()](std::string_view r) { return m->answer(r); },
                            std::move(limits)));
  return metrics;
}

std::string MetricsServer::describe() const {
  const ListenAddress& a = address();
  if (a.kind == ListenAddress::Kind::kUnix) return a.to_string();
  return "http://" + a.to_string() + "/metrics";
}

std::string MetricsServer::answer(std::string_view request) const {
  std::string_view line = request.substr(0, request.find_first_of("\r\n"));
  size_t first = line.find(' ');
  size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  if (second == std::string_view::npos || !line.substr(second + 1).starts_with("HTTP/1."))
    return plain_error("400 Bad Request");
  std::string_view method = line.substr(0, first);
  std::string_view target = line.substr(first + 1, second - first - 1);
  target = target.substr(0, target.find('?'));
  if (method != "GET" && method != "HEAD") return plain_error("405 Method Not Allowed", "Allow: GET, HEAD\r\n");
  if (target != "/metrics") return plain_error("404 Not Found");
  return http_reply("200 OK", "text/plain; version=0.0.4; charset=utf-8", render_(),
                    method == "GET");
}

}  // namespace shoal
