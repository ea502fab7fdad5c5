#include "common/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace shoal {

Result<sockaddr_un> unix_socket_address(const std::string& path, std::string_view what) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty())
    return Error(ErrorKind::kInvalidArgument, std::string(what) + " socket path is empty");
  if (path.size() >= sizeof(addr.sun_path))
    return Error(ErrorKind::kInvalidArgument,
                 std::string(what) + " socket path " + path + " is too long for a Unix socket (max " +
                     std::to_string(sizeof(addr.sun_path) - 1) + " bytes)");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

Status clear_stale_unix_socket(const std::string& path, std::string_view what) {
  SHOAL_ASSIGN(sockaddr_un addr, unix_socket_address(path, what));
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {};
  if (!S_ISSOCK(st.st_mode))
    return Error(ErrorKind::kInvalidArgument,
                 std::string(what) + " socket path " + path + " exists and is not a socket");
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) return errno_error("socket()", errno);
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0)
    return Error(ErrorKind::kInvalidArgument,
                 std::string(what) + " socket " + path +
                     " is in use by another server: stop it or pick another socket path");
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return errno_error("removing the stale " + std::string(what) + " socket " + path, errno);
  return {};
}

UnixListener& UnixListener::operator=(UnixListener&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::move(o.fd_);
    path_ = std::move(o.path_);
  }
  return *this;
}

void UnixListener::close() {
  if (!fd_) return;
  fd_.reset();
  ::unlink(path_.c_str());
}

Result<UnixListener> UnixListener::listen(const std::string& path, std::string_view what,
                                          Options options) {
  SHOAL_ASSIGN(sockaddr_un addr, unix_socket_address(path, what));
  SHOAL_TRY(clear_stale_unix_socket(path, what));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("creating a Unix socket", errno);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return errno_error("binding " + std::string(what) + " socket " + path, errno);
  // From here the file is ours: the listener removes it, also when the next steps fail.
  UnixListener listener(std::move(fd), path);
  if (options.mode && ::chmod(path.c_str(), *options.mode) != 0)
    return errno_error("setting the mode of " + std::string(what) + " socket " + path, errno);
  if (::listen(listener.fd(), options.backlog) != 0)
    return errno_error("listening on " + std::string(what) + " socket " + path, errno);
  return listener;
}

Result<UniqueFd> connect_unix(const std::string& path, std::string_view what) {
  SHOAL_ASSIGN(sockaddr_un addr, unix_socket_address(path, what));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("socket()", errno);
  for (;;) {
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
    if (errno == EINTR) continue;
    int err = errno;
    if (err == ENOENT || err == ECONNREFUSED)
      return Error(ErrorKind::kNotFound,
                   "nothing listens on the " + std::string(what) + " socket " + path);
    return errno_error("connecting to the " + std::string(what) + " socket " + path, err);
  }
}

Result<TcpListener> listen_tcp(const std::string& host, uint16_t port, std::string_view what,
                               int backlog) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    length = sizeof(*v4);
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    length = sizeof(*v6);
  } else {
    return Error(ErrorKind::kInvalidArgument, std::string(what) + " TCP address '" + host +
                                                  "' is not an IPv4 or IPv6 address");
  }
  TcpListener out;
  out.fd.reset(::socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!out.fd) return errno_error("creating a TCP socket", errno);
  int one = 1;
  ::setsockopt(out.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  std::string where = (length == sizeof(*v6) ? "[" + host + "]" : host) + ":" + std::to_string(port);
  if (::bind(out.fd.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0)
    return errno_error("binding " + std::string(what) + " TCP socket " + where, errno);
  if (::listen(out.fd.get(), backlog) != 0)
    return errno_error("listening on " + where, errno);
  if (::getsockname(out.fd.get(), reinterpret_cast<sockaddr*>(&storage), &length) != 0)
    return errno_error("reading the port of " + where, errno);
  out.port = ntohs(storage.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
  return out;
}

Status set_nonblocking(int fd, std::string_view what) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return errno_error("making " + std::string(what) + " nonblocking", errno);
  return {};
}

}  // namespace shoal
