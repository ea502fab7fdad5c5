// A vhost-user-blk back end (QEMU docs/interop/vhost-user.rst): a VM's virtio-blk disk served
// from the BlockDevice over a Unix socket, the guest's memory shared with us through file
// descriptors, the virtqueues processed here and kicks/calls exchanged through eventfds that the
// reactor watches.
//
// Offered: VIRTIO_F_VERSION_1, INDIRECT_DESC, EVENT_IDX, VIRTIO_BLK_F_RO, BLK_SIZE (4096),
// SEG_MAX, MQ (VhostUserBlkOptions::max_queues); protocol features MQ, REPLY_ACK and CONFIG
// (GET_CONFIG answers virtio_blk_config: capacity in 512-byte sectors, blk_size, seg_max,
// num_queues). Requests are served by VirtioBlkQueue. One front end at a time: a second
// connection is closed at once; a new connection after the old one closed starts from a fresh
// state (QEMU reconnecting, or restarting the VM).
//
// Errors. A message that breaks the protocol (bad sizes, rings before the memory table, an index
// out of range, a memory table that does not validate) fails: with REPLY_ACK requested the front
// end gets a non-zero ack and the connection stays; otherwise the connection is closed, since
// the front end would go on believing the message worked.
//
// GET_VRING_BASE stops a ring and is answered only once the reads in flight on it have been
// returned to the driver, so no read lands in guest memory after the front end took the ring
// back (a driver reset reuses that memory).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/socket.h"
#include "daemon/frontends/frontend.h"

namespace shoal {

class VhostUserBlk final : public Frontend {
 public:
  VhostUserBlk(const FrontendOptions& options, Reactor& reactor, BlockDevice& device);
  ~VhostUserBlk() override;
  VhostUserBlk(const VhostUserBlk&) = delete;
  VhostUserBlk& operator=(const VhostUserBlk&) = delete;

  // Listens on VhostUserBlkOptions::unix_socket; a stale socket file (nobody accepting) is
  // replaced.
  Status start() override;
  void stop() override;
  std::string describe() const override;

  // Serves an already connected stream socket (a socketpair in tests). Takes ownership of fd.
  Status adopt(int fd);

  bool connected() const { return connection_ != nullptr; }
  uint64_t refused_connections() const { return refused_connections_; }
  // Descriptor chains refused on the current connection's queues (see VirtioBlkQueue).
  uint64_t refused_chains() const;

 private:
  class Connection;
  Status listen_unix();
  void accept_all();
  void forget(const Connection* connection);

  FrontendOptions options_;
  Reactor& reactor_;
  BlockDevice& device_;
  UnixListener listener_;
  uint64_t refused_connections_ = 0;
  std::shared_ptr<Connection> connection_;
};

}  // namespace shoal
