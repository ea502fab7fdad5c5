#include "daemon/frontends/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

namespace shoal {

Status clear_stale_unix_socket(const sockaddr_un& addr, std::string_view what) {
  std::string path(addr.sun_path);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {};
  if (!S_ISSOCK(st.st_mode))
    return Error(ErrorKind::kInvalidArgument,
                 std::string(what) + " socket path " + path + " exists and is not a socket");
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool live = probe >= 0 &&
              ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  if (probe >= 0) ::close(probe);
  if (live)
    return Error(ErrorKind::kInvalidArgument,
                 std::string(what) + " socket " + path + " is in use by another server");
  ::unlink(path.c_str());
  return {};
}

}  // namespace shoal
