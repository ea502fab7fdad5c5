#include "daemon/frontends/nbd_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <functional>
#include <span>
#include <string_view>

#include "common/socket.h"
#include "daemon/frontends/nbd_protocol.h"

namespace shoal {
namespace {

// Option data beyond this is never buffered: the longest legal option (GO with a 4096-byte
// name and a few info requests) fits easily.
constexpr size_t kMaxOptionData = 16 * 1024;
constexpr size_t kInputCapacity = 64 * 1024;
// Replies queued or reads in flight per connection before it stops reading requests; bounds
// the bookkeeping a flood of zero-length requests could cost.
constexpr size_t kMaxQueuedReplies = 1024;
constexpr size_t kMaxIovPerSend = 64;

constexpr uint16_t kTransmissionFlags =
    nbd::kFlagHasFlags | nbd::kFlagReadOnly | nbd::kFlagSendFlush | nbd::kFlagCanMultiConn;

// An adopted socket (socket activation, a socketpair) may come blocking and inheritable.
Status prepare_adopted(int fd) {
  SHOAL_TRY(set_nonblocking(fd, "an NBD socket"));
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return errno_error("setting FD_CLOEXEC", errno);
  return {};
}

uint32_t nbd_error_for(const Error& error) {
  return error.kind == ErrorKind::kInvalidArgument ? nbd::kEinval : nbd::kEio;
}

bool is_known_option(uint32_t option) {
  return option == nbd::kOptExportName || option == nbd::kOptAbort || option == nbd::kOptList ||
         option == nbd::kOptInfo || option == nbd::kOptGo;
}

}  // namespace

// One client: the handshake, then requests. Owned by the server's map; callbacks hold weak
// references, so a connection that closes while reads are in flight simply drops their results.
class NbdServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(NbdServer& server, int fd) : server_(server), fd_(fd), in_(kInputCapacity) {}
  ~Connection() { close_fd(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  void close();
  size_t buffered() const { return buffered_; }

 private:
  enum class Phase { kClientFlags, kOptions, kTransmission, kDraining };

  // A message going out; read replies carry their payload separately to avoid a copy.
  struct Outgoing {
    std::vector<uint8_t> head;
    LentBytes data;  // a read's payload, sent straight from the device's memory
    size_t data_size = 0;
    size_t sent = 0;
    size_t size() const { return head.size() + data_size; }
  };

  void on_events(uint32_t fired);
  void read_socket();
  void process_input();
  bool step();
  bool step_skip();
  bool step_client_flags();
  bool step_option();
  bool step_request();
  bool paused() const;
  size_t available() const { return in_end_ - in_begin_; }
  const uint8_t* input() const { return in_.data() + in_begin_; }
  void consume(size_t n) { in_begin_ += n; }
  void skip(uint64_t bytes, std::function<void()> then);

  void handle_option(uint32_t option, std::span<const uint8_t> data);
  void handle_export_name(std::span<const uint8_t> data);
  void handle_list(std::span<const uint8_t> data);
  void handle_info(uint32_t option, std::span<const uint8_t> data);
  void enter_transmission();
  void handle_request(uint16_t flags, uint16_t type, uint64_t handle, uint64_t offset,
                      uint32_t length);
  void start_read(uint64_t handle, uint64_t offset, uint32_t length);
  void finish_read(uint64_t handle, uint32_t length, Result<LentBytes> lent);
  void finish_after_replies();

  void send_option_reply(uint32_t option, uint32_t type, std::span<const uint8_t> data = {});
  void send_option_error(uint32_t option, uint32_t type, std::string_view message);
  void send_simple_reply(uint64_t handle, uint32_t error);
  void queue(Outgoing out);
  void flush();
  void update_interest();
  void close_fd();

  bool export_matches(std::string_view name) const {
    return name.empty() || name == server_.options_.export_name;
  }

  NbdServer& server_;
  int fd_;
  bool closed_ = false;
  Phase phase_ = Phase::kClientFlags;
  bool no_zeroes_ = false;
  bool close_when_idle_ = false;  // after NBD_OPT_ABORT or NBD_CMD_DISC
  std::vector<uint8_t> in_;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;
  uint64_t skip_left_ = 0;
  std::function<void()> after_skip_;
  std::deque<Outgoing> out_;
  size_t buffered_ = 0;  // read buffers in flight plus queued replies
  size_t reads_in_flight_ = 0;
  uint32_t interest_ = 0;
  bool watched_ = false;
  Reactor::TimerId handshake_timer_ = 0;
};

void NbdServer::Connection::start() {
  std::vector<uint8_t> greeting;
  nbd::append_be64(greeting, nbd::kInitPasswd);
  nbd::append_be64(greeting, nbd::kOptionMagic);
  nbd::append_be16(greeting, nbd::kFlagFixedNewstyle | nbd::kFlagNoZeroes);
  queue(Outgoing{std::move(greeting)});
  std::weak_ptr<Connection> weak = weak_from_this();
  handshake_timer_ = server_.reactor_.add_timer(server_.options_.nbd.handshake_timeout, [weak] {
    if (auto self = weak.lock()) {
      self->handshake_timer_ = 0;
      self->close();
    }
  });
  update_interest();
}

void NbdServer::Connection::close() {
  if (closed_) return;
  closed_ = true;
  if (handshake_timer_ != 0) server_.reactor_.cancel_timer(handshake_timer_);
  handshake_timer_ = 0;
  close_fd();
  out_.clear();
  server_.forget(this);  // may destroy *this once the caller's reference goes
}

void NbdServer::Connection::close_fd() {
  if (fd_ < 0) return;
  if (watched_) server_.reactor_.unwatch(fd_);
  watched_ = false;
  ::close(fd_);
  fd_ = -1;
}

void NbdServer::Connection::on_events(uint32_t fired) {
  auto self = shared_from_this();  // close() must not free us mid-callback
  if (fired & Reactor::kError) return close();
  if (fired & Reactor::kWritable) flush();
  if (!closed_ && (fired & Reactor::kReadable)) read_socket();
  // Replies just sent may have freed the budget that requests already buffered wait for.
  process_input();
  update_interest();
  finish_after_replies();
}

void NbdServer::Connection::read_socket() {
  if (in_begin_ > 0) {
    std::memmove(in_.data(), in_.data() + in_begin_, available());
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
  if (in_end_ == in_.size()) return;  // full of requests waiting for the budget
  ssize_t n = ::recv(fd_, in_.data() + in_end_, in_.size() - in_end_, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) return close();  // the client went away (hard disconnect) or the socket failed
  in_end_ += static_cast<size_t>(n);
}

void NbdServer::Connection::process_input() {
  while (!closed_ && step()) {
  }
}

// Requests and options wait while too much is buffered for this client; skipping a payload and
// draining before close do not, since they buffer nothing.
bool NbdServer::Connection::paused() const {
  if (skip_left_ > 0 || phase_ == Phase::kDraining) return false;
  return buffered_ >= kConnectionBudget || reads_in_flight_ + out_.size() >= kMaxQueuedReplies;
}

// Handles at most one message; false when it needs more input or must wait for replies to drain.
bool NbdServer::Connection::step() {
  if (paused()) return false;
  if (skip_left_ > 0) return step_skip();
  switch (phase_) {
    case Phase::kClientFlags: return step_client_flags();
    case Phase::kOptions: return step_option();
    case Phase::kTransmission: return step_request();
    case Phase::kDraining:
      consume(available());  // nothing may follow ABORT or DISC; ignore whatever does
      return false;
  }
  return false;
}

bool NbdServer::Connection::step_skip() {
  size_t n = static_cast<size_t>(std::min<uint64_t>(skip_left_, available()));
  consume(n);
  skip_left_ -= n;
  if (skip_left_ > 0) return false;
  std::function<void()> then = std::move(after_skip_);
  after_skip_ = nullptr;
  then();
  return true;
}

void NbdServer::Connection::skip(uint64_t bytes, std::function<void()> then) {
  skip_left_ = bytes;
  after_skip_ = std::move(then);
  if (bytes == 0) step_skip();
}

bool NbdServer::Connection::step_client_flags() {
  if (available() < 4) return false;
  uint32_t flags = nbd::load_be32(input());
  consume(4);
  // The spec makes the server drop a client that sets a flag it did not offer.
  if (flags & ~(nbd::kClientFlagFixedNewstyle | nbd::kClientFlagNoZeroes)) {
    close();
    return false;
  }
  no_zeroes_ = (flags & nbd::kClientFlagNoZeroes) != 0;
  phase_ = Phase::kOptions;
  return true;
}

bool NbdServer::Connection::step_option() {
  if (available() < 16) return false;
  if (nbd::load_be64(input()) != nbd::kOptionMagic) {
    close();
    return false;
  }
  uint32_t option = nbd::load_be32(input() + 8);
  uint32_t length = nbd::load_be32(input() + 12);
  if (!is_known_option(option)) {
    consume(16);
    skip(length, [this, option] {
      send_option_error(option, nbd::kRepErrUnsup, "shoal does not support this option");
    });
    return true;
  }
  if (length > kMaxOptionData) {
    consume(16);
    skip(length, [this, option] {
      if (option == nbd::kOptExportName) return close();  // this option cannot answer an error
      send_option_error(option, nbd::kRepErrTooBig, "option data too long");
    });
    return true;
  }
  if (available() < 16 + size_t{length}) return false;
  std::span<const uint8_t> data(input() + 16, length);
  consume(16 + size_t{length});
  handle_option(option, data);  // data stays valid: the buffer is only compacted on reads
  return true;
}

void NbdServer::Connection::handle_option(uint32_t option, std::span<const uint8_t> data) {
  switch (option) {
    case nbd::kOptExportName: return handle_export_name(data);
    case nbd::kOptAbort:
      send_option_reply(option, nbd::kRepAck);
      phase_ = Phase::kDraining;
      close_when_idle_ = true;
      return finish_after_replies();
    case nbd::kOptList: return handle_list(data);
    case nbd::kOptInfo:
    case nbd::kOptGo: return handle_info(option, data);
  }
}

void NbdServer::Connection::handle_export_name(std::span<const uint8_t> data) {
  std::string_view name(reinterpret_cast<const char*>(data.data()), data.size());
  if (!export_matches(name)) return close();  // the spec's only answer to an unknown name
  std::vector<uint8_t> reply;
  nbd::append_be64(reply, server_.device_.size_bytes());
  nbd::append_be16(reply, kTransmissionFlags);
  if (!no_zeroes_) reply.resize(reply.size() + nbd::kExportNameZeroes, 0);
  queue(Outgoing{std::move(reply)});
  enter_transmission();
}

void NbdServer::Connection::handle_list(std::span<const uint8_t> data) {
  if (!data.empty())
    return send_option_error(nbd::kOptList, nbd::kRepErrInvalid, "NBD_OPT_LIST takes no data");
  const std::string& name = server_.options_.export_name;
  std::vector<uint8_t> entry;
  nbd::append_be32(entry, static_cast<uint32_t>(name.size()));
  entry.insert(entry.end(), name.begin(), name.end());
  send_option_reply(nbd::kOptList, nbd::kRepServer, entry);
  send_option_reply(nbd::kOptList, nbd::kRepAck);
}

// INFO and GO: u32 name length, name, u16 count, count × u16 info types requested.
void NbdServer::Connection::handle_info(uint32_t option, std::span<const uint8_t> data) {
  if (data.size() < 6) return send_option_error(option, nbd::kRepErrInvalid, "option too short");
  uint32_t name_length = nbd::load_be32(data.data());
  if (name_length > data.size() - 6)
    return send_option_error(option, nbd::kRepErrInvalid, "export name overruns the option");
  std::string_view name(reinterpret_cast<const char*>(data.data() + 4), name_length);
  uint16_t count = nbd::load_be16(data.data() + 4 + name_length);
  if (data.size() != 6 + size_t{name_length} + 2 * size_t{count})
    return send_option_error(option, nbd::kRepErrInvalid, "info request count mismatch");
  if (!export_matches(name)) {
    return send_option_error(
        option, nbd::kRepErrUnknown,
        "no such export; this server exports '" + server_.options_.export_name + "'");
  }
  bool want_name = false;
  for (uint16_t i = 0; i < count; ++i) {
    if (nbd::load_be16(data.data() + 6 + name_length + 2 * size_t{i}) == nbd::kInfoName)
      want_name = true;
  }

  std::vector<uint8_t> info;
  nbd::append_be16(info, nbd::kInfoExport);
  nbd::append_be64(info, server_.device_.size_bytes());
  nbd::append_be16(info, kTransmissionFlags);
  send_option_reply(option, nbd::kRepInfo, info);
  // Sent unasked too: any offset and length is fine, so it never constrains a client.
  info.clear();
  nbd::append_be16(info, nbd::kInfoBlockSize);
  nbd::append_be32(info, 1);
  nbd::append_be32(info, server_.device_.block_size());
  nbd::append_be32(info, kMaxPayload);
  send_option_reply(option, nbd::kRepInfo, info);
  if (want_name) {
    info.clear();
    nbd::append_be16(info, nbd::kInfoName);
    const std::string& export_name = server_.options_.export_name;
    info.insert(info.end(), export_name.begin(), export_name.end());
    send_option_reply(option, nbd::kRepInfo, info);
  }
  send_option_reply(option, nbd::kRepAck);
  if (option == nbd::kOptGo) enter_transmission();
}

void NbdServer::Connection::enter_transmission() {
  phase_ = Phase::kTransmission;
  if (handshake_timer_ != 0) server_.reactor_.cancel_timer(handshake_timer_);
  handshake_timer_ = 0;
}

bool NbdServer::Connection::step_request() {
  if (available() < nbd::kRequestSize) return false;
  const uint8_t* p = input();
  if (nbd::load_be32(p) != nbd::kRequestMagic) {
    close();
    return false;
  }
  uint16_t flags = nbd::load_be16(p + 4);
  uint16_t type = nbd::load_be16(p + 6);
  uint64_t handle = nbd::load_be64(p + 8);
  uint64_t offset = nbd::load_be64(p + 16);
  uint32_t length = nbd::load_be32(p + 24);
  consume(nbd::kRequestSize);
  handle_request(flags, type, handle, offset, length);
  return true;
}

void NbdServer::Connection::handle_request(uint16_t flags, uint16_t type, uint64_t handle,
                                           uint64_t offset, uint32_t length) {
  uint64_t size = server_.device_.size_bytes();
  switch (type) {
    case nbd::kCmdRead:
      // FUA is meaningless on a read but some clients set it anyway; anything else is invalid.
      if ((flags & ~nbd::kCmdFlagFua) != 0 || length > kMaxPayload ||
          !within_device(size, offset, length)) {
        return send_simple_reply(handle, nbd::kEinval);
      }
      if (length == 0) return send_simple_reply(handle, 0);
      return start_read(handle, offset, length);
    case nbd::kCmdWrite:
      // The payload follows the header whatever we answer; read past it to stay in sync.
      return skip(length, [this, handle] { send_simple_reply(handle, nbd::kEperm); });
    case nbd::kCmdDisc:
      phase_ = Phase::kDraining;
      close_when_idle_ = true;
      return finish_after_replies();
    case nbd::kCmdFlush: return send_simple_reply(handle, 0);
    case nbd::kCmdTrim:
    case nbd::kCmdWriteZeroes: return send_simple_reply(handle, nbd::kEperm);
    default: return send_simple_reply(handle, nbd::kEinval);
  }
}

void NbdServer::Connection::start_read(uint64_t handle, uint64_t offset, uint32_t length) {
  buffered_ += length;
  ++reads_in_flight_;
  std::weak_ptr<Connection> weak = weak_from_this();
  server_.device_.lend(offset, length, [weak, handle, length](Result<LentBytes> lent) {
    if (auto self = weak.lock()) self->finish_read(handle, length, std::move(lent));
  });
}

void NbdServer::Connection::finish_read(uint64_t handle, uint32_t length, Result<LentBytes> lent) {
  buffered_ -= length;
  --reads_in_flight_;
  if (closed_) return;
  Outgoing out;
  nbd::append_be32(out.head, nbd::kSimpleReplyMagic);
  nbd::append_be32(out.head, lent.ok() ? 0 : nbd_error_for(lent.error()));
  nbd::append_be64(out.head, handle);
  if (lent.ok()) {
    out.data = std::move(*lent);
    out.data_size = length;
  }
  queue(std::move(out));
  process_input();  // requests may be waiting for the budget this read held
  if (!closed_) update_interest();
  finish_after_replies();
}

// After ABORT or DISC: every outstanding request is answered, then the connection closes.
void NbdServer::Connection::finish_after_replies() {
  if (!closed_ && close_when_idle_ && reads_in_flight_ == 0 && out_.empty()) close();
}

void NbdServer::Connection::send_option_reply(uint32_t option, uint32_t type,
                                              std::span<const uint8_t> data) {
  Outgoing out;
  nbd::append_be64(out.head, nbd::kOptionReplyMagic);
  nbd::append_be32(out.head, option);
  nbd::append_be32(out.head, type);
  nbd::append_be32(out.head, static_cast<uint32_t>(data.size()));
  out.head.insert(out.head.end(), data.begin(), data.end());
  queue(std::move(out));
}

void NbdServer::Connection::send_option_error(uint32_t option, uint32_t type,
                                              std::string_view message) {
  send_option_reply(option, type,
                    std::span(reinterpret_cast<const uint8_t*>(message.data()), message.size()));
}

void NbdServer::Connection::send_simple_reply(uint64_t handle, uint32_t error) {
  Outgoing out;
  nbd::append_be32(out.head, nbd::kSimpleReplyMagic);
  nbd::append_be32(out.head, error);
  nbd::append_be64(out.head, handle);
  queue(std::move(out));
}

void NbdServer::Connection::queue(Outgoing out) {
  if (closed_) return;
  buffered_ += out.size();
  out_.push_back(std::move(out));
  flush();
}

// Sends what the socket takes now; the rest waits for writability.
void NbdServer::Connection::flush() {
  while (!closed_ && !out_.empty()) {
    iovec iov[kMaxIovPerSend];
    size_t count = 0;
    for (auto it = out_.begin(); it != out_.end() && count < kMaxIovPerSend; ++it) {
      size_t sent = it->sent;
      if (sent < it->head.size()) {
        iov[count++] = iovec{it->head.data() + sent, it->head.size() - sent};
        sent = it->head.size();
      }
      // The payload's pieces past what was sent; a reply cut off here goes on next round.
      size_t skip = sent - it->head.size();
      for (const iovec& piece : it->data.iov) {
        if (count == kMaxIovPerSend) break;
        if (skip >= piece.iov_len) {
          skip -= piece.iov_len;
          continue;
        }
        iov[count++] = iovec{static_cast<char*>(piece.iov_base) + skip, piece.iov_len - skip};
        skip = 0;
      }
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0) return close();  // the client vanished mid-reply: drop it, nobody else
    for (size_t left = static_cast<size_t>(n); left > 0;) {
      Outgoing& front = out_.front();
      size_t step = std::min(left, front.size() - front.sent);
      front.sent += step;
      left -= step;
      if (front.sent == front.size()) {
        buffered_ -= front.size();
        out_.pop_front();
      }
    }
  }
}

void NbdServer::Connection::update_interest() {
  if (closed_) return;
  uint32_t want = paused() ? 0u : uint32_t{Reactor::kReadable};  // paused: resume on drain
  if (!out_.empty()) want |= Reactor::kWritable;
  if (watched_ && want == interest_) return;
  interest_ = want;
  if (want == 0) {
    if (watched_) server_.reactor_.unwatch(fd_);
    watched_ = false;
    return;
  }
  std::weak_ptr<Connection> weak = weak_from_this();
  server_.reactor_.watch(fd_, want, [weak](uint32_t fired) {
    if (auto self = weak.lock()) self->on_events(fired);
  });
  watched_ = true;
}

NbdServer::NbdServer(const FrontendOptions& options, Reactor& reactor, BlockDevice& device)
    : options_(options), reactor_(reactor), device_(device) {}

NbdServer::~NbdServer() { stop(); }

Status NbdServer::start() {
  if (!listeners_.empty())
    return Error(ErrorKind::kInvalidArgument, describe() + " already started");
  if (options_.nbd.unix_socket.empty() && options_.nbd.tcp_address.empty()) {
    return Error(ErrorKind::kInvalidArgument,
                 "the NBD frontend needs a Unix socket path or a TCP address to listen on");
  }
  if (!options_.nbd.unix_socket.empty()) {
    Status s = listen_unix();
    if (!s.ok()) {
      stop();
      return s;
    }
  }
  if (!options_.nbd.tcp_address.empty()) {
    Status s = listen_tcp();
    if (!s.ok()) {
      stop();
      return s;
    }
  }
  for (const Listener& listener : listeners_) watch_listener(listener);
  return {};
}

Status NbdServer::listen_unix() {
  SHOAL_ASSIGN(unix_listener_,
               UnixListener::listen(options_.nbd.unix_socket, "NBD", {.backlog = SOMAXCONN}));
  listeners_.push_back({unix_listener_.fd(), false});
  return {};
}

Status NbdServer::listen_tcp() {
  SHOAL_ASSIGN(TcpListener tcp,
               shoal::listen_tcp(options_.nbd.tcp_address, options_.nbd.tcp_port, "NBD", SOMAXCONN));
  tcp_port_ = tcp.port;
  tcp_listener_ = std::move(tcp.fd);
  listeners_.push_back({tcp_listener_.get(), true});
  return {};
}

void NbdServer::watch_listener(const Listener& listener) {
  reactor_.watch(listener.fd, Reactor::kReadable,
                 [this, listener](uint32_t) { accept_all(listener); });
}

void NbdServer::accept_all(const Listener& listener) {
  for (;;) {
    int fd = ::accept4(listener.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0 && (errno == EINTR || errno == ECONNABORTED)) continue;
    if (fd < 0) return;  // EAGAIN: all accepted
    // A refused client just sees its connection closed; the ones being served are not touched.
    if (!serve(fd, listener.tcp).ok()) ++refused_connections_;
  }
}

Status NbdServer::adopt(int fd) {
  Status nonblocking = prepare_adopted(fd);
  if (!nonblocking.ok()) {
    ::close(fd);
    return nonblocking;
  }
  return serve(fd, false);
}

Status NbdServer::serve(int fd, bool tcp) {
  if (connections_.size() >= options_.nbd.max_connections) {
    ::close(fd);
    return Error(ErrorKind::kNoSpace,
                 "NBD server already has " + std::to_string(connections_.size()) + " connections");
  }
  if (tcp) {
    int one = 1;  // replies are whole messages: do not hold them back
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  auto connection = std::make_shared<Connection>(*this, fd);
  connections_.emplace(connection.get(), connection);
  connection->start();
  return {};
}

void NbdServer::forget(const Connection* connection) { connections_.erase(connection); }

void NbdServer::stop() {
  for (const Listener& listener : listeners_) reactor_.unwatch(listener.fd);
  listeners_.clear();
  unix_listener_.close();  // and removes the socket file
  tcp_listener_.reset();
  std::vector<std::shared_ptr<Connection>> open;
  for (auto& [key, connection] : connections_) open.push_back(connection);
  for (auto& connection : open) connection->close();
  connections_.clear();
}

size_t NbdServer::buffered_bytes() const {
  size_t total = 0;
  for (const auto& [key, connection] : connections_) total += connection->buffered();
  return total;
}

std::string NbdServer::describe() const {
  std::string out = "nbd export '" + options_.export_name + "' (" +
                    std::to_string(device_.size_bytes()) + " bytes, read-only)";
  if (!options_.nbd.unix_socket.empty()) out += " on unix:" + options_.nbd.unix_socket;
  if (!options_.nbd.tcp_address.empty())
    out += " on tcp:" + options_.nbd.tcp_address + ":" + std::to_string(tcp_port_);
  return out;
}

}  // namespace shoal
