// The vhost-user-blk back end (daemon/frontends/vhost_user_blk.h) driven over a socketpair as
// QEMU drives it: the input is the front end's messages, sent one by one, each with the file
// descriptors its request carries (memfds for SET_MEM_TABLE, eventfds for the ring messages),
// so memory tables are really mapped and rings really started and kicked.
//
//   input = [guest bytes length u16 LE][guest bytes: the start of every memory region's file]
//           messages: [request u32][flags u32][size u32][payload, up to the input's end]
//
// A message with flag bit 31 set carries one file descriptor more than its request takes. The
// back end must answer, refuse or hang up, and must let go of the connection once the front
// end has closed it.
#include <sys/eventfd.h>
#include <sys/mman.h>
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
#include "daemon/frontends/vhost_user_blk.h"
#include "daemon/frontends/vhost_user_protocol.h"
#include "common/fd_passing.h"
#include "fuzz/checked_device.h"
#include "fuzz/fuzz_check.h"

using namespace shoal;

namespace {

constexpr size_t kRegionFileBytes = 64 << 10;

struct Harness {
  PollReactor loop;
  fuzz::CheckedDevice device{loop};
  FrontendOptions options;
  VhostUserBlk backend{options, loop, device};
};

void drain(int fd) {
  uint8_t buffer[4096];
  while (::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT) > 0) {
  }
}

int region_file(std::span<const uint8_t> guest) {
  int fd = ::memfd_create("guest", MFD_CLOEXEC);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(::ftruncate(fd, kRegionFileBytes) == 0);
  if (!guest.empty()) FUZZ_CHECK(::pwrite(fd, guest.data(), guest.size(), 0) > 0);
  return fd;
}

// The descriptors a front end sends with this request.
std::vector<int> fds_for(const vhost::Header& h, std::span<const uint8_t> payload,
                         std::span<const uint8_t> guest, int kick) {
  std::vector<int> fds;
  size_t count = 0;
  bool eventfd_kind = false;
  if (h.request == vhost::kSetMemTable && payload.size() >= sizeof(vhost::MemoryHeader)) {
    vhost::MemoryHeader m;
    std::memcpy(&m, payload.data(), sizeof m);
    count = std::min<size_t>(m.nregions, 8);
  } else if (h.request == vhost::kSetVringKick || h.request == vhost::kSetVringCall ||
             h.request == vhost::kSetVringErr) {
    uint64_t value = 0;
    std::memcpy(&value, payload.data(), std::min(payload.size(), sizeof value));
    count = (value & vhost::kVringNoFd) ? 0 : 1;
    eventfd_kind = true;
  }
  if (h.flags & (1u << 31)) ++count;
  for (size_t i = 0; i < count && i < kMaxPassedFds; ++i)
    fds.push_back(eventfd_kind ? ::dup(kick) : region_file(guest));
  return fds;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness* h = new Harness;
  if (size < 2) return 0;
  size_t guest_bytes = std::min<size_t>(data[0] | size_t{data[1]} << 8, size - 2);
  std::span<const uint8_t> guest(data + 2, guest_bytes);
  std::span<const uint8_t> rest(data + 2 + guest_bytes, size - 2 - guest_bytes);

  int sv[2];
  FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  int client = sv[0];
  FUZZ_CHECK(h->backend.adopt(sv[1]).ok());
  // Every ring's kick and call eventfd: one, readable as soon as it is written.
  int kick = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  FUZZ_CHECK(kick >= 0);

  while (rest.size() >= sizeof(vhost::Header) && h->backend.connected()) {
    vhost::Header header;
    std::memcpy(&header, rest.data(), sizeof header);
    size_t payload_size = std::min<size_t>(header.size, rest.size() - sizeof header);
    std::span<const uint8_t> message = rest.first(sizeof header + payload_size);
    std::span<const uint8_t> payload = message.subspan(sizeof header);
    rest = rest.subspan(message.size());

    std::vector<int> fds = fds_for(header, payload, guest, kick);
    ssize_t sent = send_with_fds(client, message, fds, MSG_NOSIGNAL | MSG_DONTWAIT);
    for (int fd : fds) ::close(fd);
    if (sent < 0) break;
    uint64_t one = 1;
    (void)!::write(kick, &one, sizeof one);
    for (int i = 0; i < 8; ++i) {
      h->loop.run_once(std::chrono::milliseconds(0));
      drain(client);
    }
  }
  ::close(client);
  for (int i = 0; i < 10000 && h->backend.connected(); ++i)
    h->loop.run_once(std::chrono::milliseconds(0));
  FUZZ_CHECK(!h->backend.connected());
  ::close(kick);
  // Reads still in flight and queues destroyed from a later round.
  for (int i = 0; i < 100 && h->loop.run_once(std::chrono::milliseconds(0)); ++i) {
  }
  return 0;
}
