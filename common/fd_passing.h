// Sending descriptors with a message over a Unix socket (SCM_RIGHTS), as vhost-user's front end
// does with memory regions and eventfds. The receiving side lives with the protocol that reads
// it (daemon/frontends/vhost_user_blk.cc).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>

namespace shoal {

// One sendmsg of `bytes` with `fds` (at most kMaxPassedFds) attached; returns what sendmsg
// returns (bytes sent, or -1 with errno set).
inline constexpr size_t kMaxPassedFds = 8;
ssize_t send_with_fds(int socket, std::span<const uint8_t> bytes, std::span<const int> fds,
                      int flags);

}  // namespace shoal
