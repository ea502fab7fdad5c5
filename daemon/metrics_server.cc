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

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { if (fd_ >= 0) ::close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { int fd = fd_; fd_ = -1; return fd; }

 private:
  int fd_;
};

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// A socket file left by a dead process refuses connections and may be replaced; a live one
// belongs to someone else.
Status clear_stale_socket(const std::string& path) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) return {};
  if (!S_ISSOCK(st.st_mode))
    return Error(ErrorKind::kInvalidArgument, path + " exists and is not a socket");
  Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (probe.get() < 0) return errno_error("socket()", errno);
  sockaddr_un addr = unix_address(path);
  if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
    return Error(ErrorKind::kInvalidArgument,
                 path + " is in use by another process: stop it or pick another socket path");
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return errno_error("removing the stale socket " + path, errno);
  return {};
}

Result<int> listen_unix(const ListenAddress& address, mode_t mode) {
  SHOAL_TRY(clear_stale_socket(address.path));
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return errno_error("socket()", errno);
  sockaddr_un addr = unix_address(address.path);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return errno_error("binding " + address.path, errno);
  if (::chmod(address.path.c_str(), mode) != 0 || ::listen(fd.get(), 64) != 0) {
    int err = errno;
    ::unlink(address.path.c_str());
    return errno_error("listening on " + address.path, err);
  }
  return fd.release();
}

Result<int> listen_tcp(ListenAddress& address) {
  bool v6 = address.host.find(':') != std::string::npos;
  Fd fd(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return errno_error("socket()", errno);
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(address.port);
    inet_pton(AF_INET6, address.host.c_str(), &a->sin6_addr);
    length = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&storage);
    a->sin_family = AF_INET;
    a->sin_port = htons(address.port);
    inet_pton(AF_INET, address.host.c_str(), &a->sin_addr);
    length = sizeof *a;
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0)
    return errno_error("binding " + address.to_string(), errno);
  if (::listen(fd.get(), 64) != 0) return errno_error("listening on " + address.to_string(), errno);
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&storage), &length) != 0)
    return errno_error("getsockname", errno);
  address.port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                          : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
  return fd.release();
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
  Result<int> fd = bound.kind == ListenAddress::Kind::kUnix ? listen_unix(bound, limits.unix_mode)
                                                            : listen_tcp(bound);
  if (!fd.ok()) return std::move(fd).error();
  std::unique_ptr<RequestServer> server(new RequestServer(
      reactor, std::move(bound), *fd, std::move(framer), std::move(handler), std::move(limits)));
  reactor.watch(*fd, Reactor::kReadable, [s = server.get()](uint32_t) { s->accept_all(); });
  return server;
}

RequestServer::RequestServer(Reactor& reactor, ListenAddress address, int fd, Framer framer,
                             Handler handler, Limits limits)
    : reactor_(reactor),
      address_(std::move(address)),
      listen_fd_(fd),
      framer_(std::move(framer)),
      handler_(std::move(handler)),
      limits_(std::move(limits)) {}

RequestServer::~RequestServer() {
  while (!connections_.empty()) close_connection(connections_.begin()->first);
  reactor_.unwatch(listen_fd_);
  ::close(listen_fd_);
  if (address_.kind == ListenAddress::Kind::kUnix) ::unlink(address_.path.c_str());
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
