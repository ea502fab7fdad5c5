// An NBD server exporting one BlockDevice read-only, over Unix and/or TCP sockets, driven by a
// Reactor: nonblocking sockets, no threads.
//
// Protocol (doc/proto.md of NetworkBlockDevice/nbd): fixed newstyle handshake; options GO,
// INFO, LIST, ABORT and EXPORT_NAME (the empty name and FrontendOptions::export_name both name
// the one export), anything else answered NBD_REP_ERR_UNSUP; NBD_INFO_EXPORT and
// NBD_INFO_BLOCK_SIZE (minimum 1, preferred the device block size, maximum kMaxPayload).
// Transmission flags HAS_FLAGS | READ_ONLY | SEND_FLUSH | CAN_MULTI_CONN; simple replies only.
// READ is served through BlockDevice::readv, many per connection at once, answered in
// completion order. WRITE (its payload read and discarded, so the stream stays in sync), TRIM
// and WRITE_ZEROES get EPERM; a read past the end or longer than kMaxPayload gets EINVAL;
// FLUSH succeeds (nothing is ever dirty). A bad magic number or a client flag the server did
// not offer closes that connection only.
//
// Each connection buffers at most kConnectionBudget bytes of replies (plus one request): past
// that it stops reading requests until the client drains its replies, so a slow or hostile
// client costs bounded memory and never delays the others.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/socket.h"
#include "common/unique_fd.h"
#include "daemon/frontends/frontend.h"

namespace shoal {

class NbdServer final : public Frontend {
 public:
  static constexpr uint32_t kMaxPayload = 32u << 20;
  static constexpr size_t kConnectionBudget = 64u << 20;

  NbdServer(const FrontendOptions& options, Reactor& reactor, BlockDevice& device);
  ~NbdServer() override;
  NbdServer(const NbdServer&) = delete;
  NbdServer& operator=(const NbdServer&) = delete;

  // Listens on the Unix socket and/or TCP address of the options (at least one is needed).
  // A stale Unix socket file (nobody accepting on it) is replaced; a live one is an error.
  Status start() override;
  void stop() override;
  std::string describe() const override;

  // The TCP port listened on (the one the kernel picked when the options said 0); 0 without TCP.
  uint16_t tcp_port() const { return tcp_port_; }
  // Serves an already connected stream socket (socket activation, a socketpair in tests),
  // starting with the handshake. Takes ownership of fd, also on failure.
  Status adopt(int fd);

  size_t connection_count() const { return connections_.size(); }
  // Connections closed at once because max_connections were already open.
  uint64_t refused_connections() const { return refused_connections_; }
  // Bytes held for all connections: read buffers in flight and replies not yet sent.
  size_t buffered_bytes() const;

 private:
  class Connection;
  struct Listener {
    int fd = -1;  // owned by unix_listener_ or tcp_listener_
    bool tcp = false;
  };

  Status listen_unix();
  Status listen_tcp();
  void watch_listener(const Listener& listener);
  void accept_all(const Listener& listener);
  Status serve(int fd, bool tcp);
  void forget(const Connection* connection);

  FrontendOptions options_;
  Reactor& reactor_;
  BlockDevice& device_;
  std::vector<Listener> listeners_;
  UnixListener unix_listener_;
  UniqueFd tcp_listener_;
  uint16_t tcp_port_ = 0;
  uint64_t refused_connections_ = 0;
  std::unordered_map<const Connection*, std::shared_ptr<Connection>> connections_;
};

}  // namespace shoal
