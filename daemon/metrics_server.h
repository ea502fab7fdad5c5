// The daemon's small socket servers, served on its Reactor (no threads):
//  - RequestServer: one request and one reply per connection, over a loopback TCP port or a
//    Unix socket; the metrics endpoint is built on it. (The control socket has its own server,
//    common/control.h, shared with the writer.)
//  - MetricsServer: the Prometheus text endpoint, `GET /metrics` over HTTP/1.x.
//
// Bounded by construction: a request larger than Limits::max_request, a client silent for
// Limits::timeout or one connection past Limits::max_connections is answered (or dropped) and
// closed, so no client can hold memory or slots for long. Replies go out nonblocking; a client
// that never reads only keeps its own connection until the timeout.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/reactor.h"
#include "common/result.h"
#include "common/socket.h"
#include "common/unique_fd.h"

namespace shoal {

struct ListenAddress {
  enum class Kind { kTcp, kUnix };
  Kind kind = Kind::kTcp;
  std::string host;  // a numeric loopback address: "127.0.0.1", "::1"
  uint16_t port = 0;  // 0 picks a free port
  std::string path;  // kUnix

  std::string to_string() const;  // "127.0.0.1:9109", "[::1]:9109", "unix:/run/shoal/m.sock"
};

// "127.0.0.1:9109", "[::1]:9109", "localhost:9109" (→ 127.0.0.1), "unix:/abs/path". TCP
// addresses must be loopback: the endpoint has no authentication.
Result<ListenAddress> parse_listen_address(std::string_view text);

class RequestServer {
 public:
  // Whether `received` holds a complete request; `eof` once the client shut its side down.
  using Framer = std::function<bool(std::string_view received, bool eof)>;
  // The reply to a complete request.
  using Handler = std::function<std::string(std::string_view request)>;
  struct Limits {
    size_t max_request = 64 * 1024;
    size_t max_connections = 64;
    std::chrono::milliseconds timeout{10'000};
    std::string too_large_reply;  // sent to a request over max_request, then the close
    mode_t unix_mode = 0600;      // permissions of a Unix socket file
  };

  // Binds and listens. A Unix socket file nobody accepts on (left by a dead process) is
  // replaced; a live one is refused as in use. The file is removed again on destruction.
  static Result<std::unique_ptr<RequestServer>> listen(const ListenAddress& address,
                                                       Reactor& reactor, Framer framer,
                                                       Handler handler, Limits limits);
  ~RequestServer();
  RequestServer(const RequestServer&) = delete;
  RequestServer& operator=(const RequestServer&) = delete;

  // The bound address; for TCP with the port the kernel picked.
  const ListenAddress& address() const { return address_; }
  size_t connection_count() const { return connections_.size(); }

 private:
  struct Connection;

  RequestServer(Reactor& reactor, ListenAddress address, UnixListener unix_listener,
                UniqueFd tcp_listener, Framer framer, Handler handler, Limits limits);
  void accept_all();
  void on_readable(int fd);
  void respond(int fd, std::string reply);
  void flush(int fd);
  void close_connection(int fd);

  Reactor& reactor_;
  ListenAddress address_;
  UnixListener unix_listener_;  // one of the two listens
  UniqueFd tcp_listener_;
  int listen_fd_;
  Framer framer_;
  Handler handler_;
  Limits limits_;
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;
};

class MetricsServer {
 public:
  using Render = std::function<std::string()>;  // the Prometheus text exposition

  // Serves `GET /metrics` (text/plain; version=0.0.4) at `listen` (parse_listen_address);
  // other paths get 404, other methods 405, malformed requests 400.
  static Result<std::unique_ptr<MetricsServer>> start(std::string_view listen, Reactor& reactor,
                                                      Render render);

  const ListenAddress& address() const { return server_->address(); }
  // "http://127.0.0.1:9109/metrics" or "unix:/run/shoal/m.sock".
  std::string describe() const;

 private:
  explicit MetricsServer(Render render) : render_(std::move(render)) {}
  std::string answer(std::string_view request) const;

  Render render_;
  std::unique_ptr<RequestServer> server_;
};

}  // namespace shoal
