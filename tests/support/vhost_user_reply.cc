#include "tests/support/vhost_user_reply.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>

namespace shoal::test {

std::optional<VhostReply> read_vhost_reply(PollReactor& loop, int fd) {
  std::vector<uint8_t> in;
  bool closed = false;
  auto complete = [&] {
    if (in.size() < sizeof(vhost::Header)) return false;
    vhost::Header h;
    std::memcpy(&h, in.data(), sizeof(h));
    return in.size() >= sizeof(h) + h.size;
  };
  EXPECT_TRUE(loop.run_until([&] {
    uint8_t buf[512];
    ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0) closed = true;
    if (n > 0) in.insert(in.end(), buf, buf + n);
    return closed || complete();
  }));
  if (closed || !complete()) return std::nullopt;
  VhostReply reply;
  std::memcpy(&reply.header, in.data(), sizeof(reply.header));
  reply.payload.assign(in.begin() + sizeof(reply.header), in.end());
  return reply;
}

}  // namespace shoal::test
