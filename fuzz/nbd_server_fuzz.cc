// The NBD server (daemon/frontends/nbd_server.h) driven over a socketpair exactly as a client
// on a socket drives it: the input is everything the client sends (client flags, options,
// then transmission requests), after which the client shuts down its side and reads the
// replies. The server must answer or drop the connection, never crash, and must close the
// connection once the client is gone.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "common/poll_reactor.h"
#include "daemon/block_device.h"
#include "daemon/frontends/nbd_protocol.h"
#include "daemon/frontends/nbd_server.h"
#include "fuzz/checked_device.h"
#include "fuzz/fuzz_check.h"

using namespace shoal;

namespace {

struct Harness {
  PollReactor loop;
  fuzz::CheckedDevice device{loop};
  FrontendOptions options = [] {
    FrontendOptions o;
    o.export_name = "shoal";
    return o;
  }();
  NbdServer server{options, loop, device};
};

// Reads whatever the server has sent; false at EOF.
bool drain(int fd, std::vector<uint8_t>& received) {
  uint8_t buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      received.insert(received.end(), buffer, buffer + n);
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return true;  // EAGAIN: nothing more for now
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness* h = new Harness;  // lives for the whole run, like the daemon's server
  int fds[2];
  FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  int client = fds[0];
  FUZZ_CHECK(::fcntl(client, F_SETFL, O_NONBLOCK) == 0);
  FUZZ_CHECK(h->server.adopt(fds[1]).ok());

  std::vector<uint8_t> received;
  size_t sent = 0;
  bool open = true;
  // Bounded: each round either moves bytes or runs completions; a server that still holds the
  // connection after this many rounds with the client gone never lets go.
  for (int round = 0; round < 100000 && (open || h->server.connection_count() > 0); ++round) {
    if (sent < size) {
      ssize_t n = ::send(client, data + sent, size - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<size_t>(n);
      if (n < 0 && errno == EPIPE) sent = size;  // the server hung up: the rest is moot
      if (sent == size) ::shutdown(client, SHUT_WR);
    } else if (size == 0 && round == 0) {
      ::shutdown(client, SHUT_WR);
    }
    h->loop.run_once(std::chrono::milliseconds(0));
    if (open) open = drain(client, received);
  }
  FUZZ_CHECK(h->server.connection_count() == 0);
  ::close(client);

  // The server greets every client with NBDMAGIC, IHAVEOPT and its handshake flags.
  FUZZ_CHECK(received.size() >= 18);
  FUZZ_CHECK(nbd::load_be64(received.data()) == nbd::kInitPasswd);
  FUZZ_CHECK(nbd::load_be64(received.data() + 8) == nbd::kOptionMagic);
  FUZZ_CHECK(h->server.buffered_bytes() == 0);
  return 0;
}
