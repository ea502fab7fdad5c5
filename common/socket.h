// Stream sockets as every listener and client in shoal opens them: Unix sockets with the
// stale-file rule, loopback/any TCP listeners, blocking Unix clients. Descriptors are
// close-on-exec; listeners are nonblocking (they live on a Reactor).
//
// The stale-socket rule: a socket file nobody accepts on is left over from a dead server and
// is replaced; a live socket (someone accepts) or any other kind of file is refused, so two
// servers never silently share or steal one path.
#pragma once

#include <sys/types.h>
#include <sys/un.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/unique_fd.h"

namespace shoal {

// The address of the Unix socket at `path`; kInvalidArgument when the path does not fit
// sun_path. `what` names the socket in messages ("NBD", "vhost-user", "control").
Result<sockaddr_un> unix_socket_address(const std::string& path, std::string_view what);

// Makes `path` free to bind under the stale-socket rule above.
Status clear_stale_unix_socket(const std::string& path, std::string_view what);

// A listening Unix socket that owns its socket file: destroying (or close()) closes the
// descriptor and removes the file, so no server leaves a stale path behind on a clean exit.
class UnixListener {
 public:
  struct Options {
    int backlog = 128;
    // chmod'ed right after bind (e.g. 0600 for a socket that can stop the daemon); unset
    // keeps what the umask gave.
    std::optional<mode_t> mode;
  };

  // Clears a stale socket at `path`, binds and listens (nonblocking, close-on-exec).
  static Result<UnixListener> listen(const std::string& path, std::string_view what,
                                     Options options);
  static Result<UnixListener> listen(const std::string& path, std::string_view what) {
    return listen(path, what, Options{});
  }

  UnixListener() = default;
  UnixListener(UnixListener&& o) noexcept = default;
  UnixListener& operator=(UnixListener&& o) noexcept;
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;
  ~UnixListener() { close(); }

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  bool listening() const { return fd_.valid(); }
  // Closes the socket and removes its file; a no-op once closed.
  void close();

 private:
  UnixListener(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;
};

// Connects (blocking) to the Unix socket at `path`. Nobody listening there (no file, or a
// stale one) is kNotFound; other failures carry errno.
Result<UniqueFd> connect_unix(const std::string& path, std::string_view what);

struct TcpListener {
  UniqueFd fd;
  uint16_t port = 0;  // the bound port: the kernel's pick when 0 was asked for
};

// Listens (nonblocking, SO_REUSEADDR) on `host`, an IPv4 or IPv6 literal, and `port` (0: any
// free port). kInvalidArgument when host is not an address literal.
Result<TcpListener> listen_tcp(const std::string& host, uint16_t port, std::string_view what,
                               int backlog = 128);

// Sets O_NONBLOCK on fd.
Status set_nonblocking(int fd, std::string_view what);

}  // namespace shoal
