// The front end's side of a vhost-user conversation in tests: reading the back end's reply
// while the back end runs on a PollReactor on the same thread.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/poll_reactor.h"
#include "daemon/frontends/vhost_user_protocol.h"

namespace shoal::test {

struct VhostReply {
  vhost::Header header;
  std::vector<uint8_t> payload;
};

// Runs `loop` until a whole message has arrived on `fd`; nullopt when the back end closed the
// connection first. A loop that gives up before either fails the test.
std::optional<VhostReply> read_vhost_reply(PollReactor& loop, int fd);

}  // namespace shoal::test
