// Unix listening sockets shared by the frontends (NBD, vhost-user-blk).
#pragma once

#include <sys/un.h>

#include <string_view>

#include "common/result.h"

namespace shoal {

// Makes addr's path free to bind: a socket file nobody accepts on is left over from a dead
// server and is removed; a live socket or any other kind of file is refused. `what` names the
// socket in messages ("NBD", "vhost-user").
Status clear_stale_unix_socket(const sockaddr_un& addr, std::string_view what);

}  // namespace shoal
