#include "common/control.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace shoal {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string encode(std::string_view text, bool keep_space) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto b = static_cast<unsigned char>(ch);
    if ((b > 0x20 && b < 0x7F && b != '%') || (keep_space && b == ' ')) {
      out += ch;
    } else {
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 0xF];
    }
  }
  return out;
}

Result<std::string> decode(std::string_view text, bool allow_space, std::string_view what) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    auto b = static_cast<unsigned char>(text[i]);
    if (b == '%') {
      int hi = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
      int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
      return Error(ErrorKind::kInvalidArgument,
                   std::string(what) + ": '%' at byte " + std::to_string(i) +
                       " is not followed by two hex digits");
    }
    if ((b > 0x20 && b < 0x7F) || (allow_space && b == ' ')) {
      out += static_cast<char>(b);
      continue;
    }
    return Error(ErrorKind::kInvalidArgument,
                 std::string(what) + ": byte 0x" + kHex[b >> 4] + kHex[b & 0xF] + " at byte " +
                     std::to_string(i) + " must be percent-encoded");
  }
  return out;
}

}  // namespace

std::string ControlReply::get(std::string_view name) const {
  for (const auto& [n, v] : fields)
    if (n == name) return v;
  return "";
}

std::vector<std::string> ControlReply::all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : fields)
    if (n == name) out.push_back(v);
  return out;
}

ControlCommand ControlCommand::sync(std::string name,
                                    std::function<ControlReply(const ControlRequest&)> run,
                                    bool takes_body) {
  return {std::move(name), takes_body,
          [run = std::move(run)](ControlRequest request, ControlRespond respond) {
            respond(run(request));
          }};
}

std::string encode_control_word(std::string_view word) { return encode(word, false); }
std::string encode_control_value(std::string_view value) { return encode(value, true); }

Result<std::string> decode_control_word(std::string_view text) {
  return decode(text, false, "word");
}

Result<std::string> decode_control_value(std::string_view text) {
  return decode(text, true, "value");
}

std::string encode_control_line(const std::vector<std::string>& words) {
  std::string line;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) line += ' ';
    line += encode_control_word(words[i]);
  }
  return line + "\n";
}

Result<std::vector<std::string>> decode_control_line(std::string_view line) {
  std::vector<std::string> words;
  for (;;) {
    size_t space = line.find(' ');
    auto word = decode(line.substr(0, space), false, "word " + std::to_string(words.size() + 1));
    if (!word.ok()) return std::move(word).error();
    words.push_back(std::move(*word));
    if (space == std::string_view::npos) return words;
    line.remove_prefix(space + 1);
  }
}

std::string encode_control_reply(const ControlReply& reply) {
  std::string out = reply.ok ? "ok\n" : "error " + encode_control_value(reply.error) + "\n";
  for (const auto& [name, value] : reply.fields)
    out += encode_control_word(name) + " " + encode_control_value(value) + "\n";
  if (!reply.body.empty()) out += "\n" + reply.body;
  return out;
}

Result<ControlReply> decode_control_reply(std::string_view text) {
  auto malformed = [](std::string_view why) {
    return Error(ErrorKind::kServer, "malformed control reply: " + std::string(why));
  };
  size_t end = text.find('\n');
  if (end == std::string_view::npos)
    return malformed(text.empty() ? "the server closed the connection without an answer"
                                  : "no newline after the status line");
  std::string_view status = text.substr(0, end);
  text.remove_prefix(end + 1);
  ControlReply reply;
  if (status.starts_with("error ")) {
    reply.ok = false;
    auto message = decode_control_value(status.substr(6));
    if (!message.ok()) return malformed(message.error().message);
    reply.error = std::move(*message);
  } else if (status != "ok") {
    return malformed("the status line is neither 'ok' nor 'error <message>'");
  }
  while (!text.empty()) {
    end = text.find('\n');
    if (end == std::string_view::npos) return malformed("a field line without its newline");
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end + 1);
    if (line.empty()) {
      reply.body = std::string(text);
      break;
    }
    size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0)
      return malformed("a field line is not '<name> <value>'");
    auto name = decode_control_word(line.substr(0, space));
    auto value = decode_control_value(line.substr(space + 1));
    if (!name.ok()) return malformed(name.error().message);
    if (!value.ok()) return malformed(value.error().message);
    reply.add(std::move(*name), std::move(*value));
  }
  return reply;
}

// ---------------------------------------------------------------------------------------------
// The server.

struct ControlServer::Connection {
  enum class State {
    kLine,     // reading the request line
    kBody,     // reading a body up to the client's shutdown
    kPending,  // the handler has the request
    kWriting,  // sending the reply; input is discarded
    kClosed,   // gone from the server; whatever still holds it finds nothing to do
  };
  UniqueFd fd;
  State state = State::kLine;
  std::string in;     // the line so far, then the body
  size_t scanned = 0;  // bytes of `in` already searched for the newline
  const ControlCommand* command = nullptr;
  std::vector<std::string> words;
  bool eof = false;  // the client shut its side down
  std::string out;
  size_t sent = 0;
  Reactor::TimerId timer = 0;
};

Result<std::unique_ptr<ControlServer>> ControlServer::listen(Reactor& reactor,
                                                             const std::string& path,
                                                             std::vector<ControlCommand> commands,
                                                             ControlLimits limits) {
  SHOAL_ASSIGN(UnixListener listener,
               UnixListener::listen(path, "control", {.backlog = 64, .mode = 0600}));
  return std::unique_ptr<ControlServer>(
      new ControlServer(reactor, std::move(listener), std::move(commands), limits));
}

ControlServer::ControlServer(Reactor& reactor, UnixListener listener,
                             std::vector<ControlCommand> commands, ControlLimits limits)
    : reactor_(reactor),
      listener_(std::move(listener)),
      commands_(std::move(commands)),
      limits_(limits) {
  reactor_.watch(listener_.fd(), Reactor::kReadable, [this](uint32_t) { accept_all(); });
}

ControlServer::~ControlServer() {
  while (!connections_.empty()) close(Ptr(connections_.begin()->second));
  reactor_.unwatch(listener_.fd());
  // listener_ closes the socket and removes its file.
}

const ControlCommand* ControlServer::find(std::string_view name) const {
  for (const ControlCommand& command : commands_)
    if (command.name == name) return &command;
  return nullptr;
}

void ControlServer::accept_all() {
  for (;;) {
    UniqueFd fd(::accept4(listener_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN, or a transient shortage (EMFILE): the listener stays armed
    }
    if (connections_.size() >= limits_.max_connections) {
      // Best effort, nonblocking: a fresh socket's buffer always takes one short line.
      std::string refusal = "error " +
                            encode_control_value("too many connections (" +
                                                 std::to_string(limits_.max_connections) +
                                                 ") on this control socket; try again") +
                            "\n";
      (void)::send(fd.get(), refusal.data(), refusal.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      continue;
    }
    auto c = std::make_shared<Connection>();
    int raw = fd.get();
    c->fd = std::move(fd);
    connections_[raw] = c;
    arm_timeout(c, "the request did not arrive complete within " +
                       std::to_string(limits_.timeout.count()) + " ms");
    reactor_.watch(raw, Reactor::kReadable, [this, c](uint32_t) { on_readable(c); });
  }
}

// A timer per phase: the request's arrival, then the reply's departure. A connection that
// runs out of time while reading is told why; one that does not take its reply is closed.
void ControlServer::arm_timeout(const Ptr& c, std::string message) {
  if (c->timer != 0) reactor_.cancel_timer(c->timer);
  std::weak_ptr<Connection> weak = c;
  c->timer = reactor_.add_timer(limits_.timeout, [this, weak, message = std::move(message)] {
    Ptr late = weak.lock();
    if (!late || late->state == Connection::State::kClosed) return;
    late->timer = 0;
    if (late->state == Connection::State::kWriting) return close(late);
    fail(late, message);
  });
}

void ControlServer::on_readable(const Ptr& c) {
  char buffer[65536];
  while (c->state == Connection::State::kLine || c->state == Connection::State::kBody) {
    ssize_t n = ::recv(c->fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      if (buffered_ + static_cast<size_t>(n) > limits_.max_buffered)
        return fail(c, "the control socket is busy receiving other large requests; try again");
      c->in.append(buffer, static_cast<size_t>(n));
      buffered_ += static_cast<size_t>(n);
      if (c->state == Connection::State::kLine) {
        if (!take_line(c)) return;
      } else if (c->in.size() > limits_.max_body) {
        return fail(c, c->command->name + ": body larger than " +
                           std::to_string(limits_.max_body) + " bytes");
      }
    } else if (n == 0) {
      c->eof = true;
      if (c->state == Connection::State::kBody) return dispatch(c);
      if (c->in.empty()) return close(c);  // connected and left: a liveness probe
      return fail(c, "the request ended before the newline of its first line");
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return;
    } else {
      return close(c);
    }
  }
}

// Looks for the end of the line in what arrived; false once the connection has moved on
// (dispatched or failed), so the caller stops reading for it.
bool ControlServer::take_line(const Ptr& c) {
  size_t newline = c->in.find('\n', c->scanned);
  if (newline == std::string::npos) {
    if (c->in.size() > limits_.max_line)
      return fail(c, "request line longer than " + std::to_string(limits_.max_line) + " bytes"),
             false;
    c->scanned = c->in.size();
    return true;
  }
  if (newline > limits_.max_line)
    return fail(c, "request line longer than " + std::to_string(limits_.max_line) + " bytes"),
           false;
  auto words = decode_control_line(std::string_view(c->in).substr(0, newline));
  if (!words.ok()) return fail(c, "malformed request: " + words.error().message), false;
  if (words->front().empty()) return fail(c, "empty request: the line names no command"), false;
  c->command = find(words->front());
  if (c->command == nullptr) {
    std::string known;
    for (const ControlCommand& command : commands_)
      known += (known.empty() ? "" : ", ") + command.name;
    return fail(c, "unknown command '" + words->front() + "' (known: " + known + ")"), false;
  }
  c->words = std::move(*words);
  c->in.erase(0, newline + 1);
  buffered_ -= newline + 1;
  if (!c->command->takes_body) {
    dispatch(c);
    return false;
  }
  c->state = Connection::State::kBody;
  if (c->in.size() > limits_.max_body)
    return fail(c, c->command->name + ": body larger than " + std::to_string(limits_.max_body) +
                       " bytes"),
           false;
  return true;
}

void ControlServer::dispatch(const Ptr& c) {
  c->state = Connection::State::kPending;
  reactor_.cancel_timer(c->timer);
  c->timer = 0;
  reactor_.unwatch(c->fd.get());
  ControlRequest request;
  request.words = std::move(c->words);
  buffered_ -= c->in.size();  // the handler owns the body from here
  if (c->command->takes_body) request.body = std::move(c->in);
  c->in = std::string();
  std::weak_ptr<Connection> weak = c;
  // The state is checked before `this` is touched: a closed connection may outlive the server.
  ControlRespond answer = [this, weak](ControlReply reply) {
    Ptr alive = weak.lock();
    if (alive && alive->state == Connection::State::kPending) respond(alive, reply);
  };
  c->command->run(std::move(request), std::move(answer));
  check_hangup(c);  // a no-op when the answer was given at once
}

// A pending answer keeps its connection (one of max_connections); a client gone for good
// (POLLHUP: both directions closed, not merely its sending side) gives that slot back.
void ControlServer::check_hangup(const Ptr& c) {
  if (c->state != Connection::State::kPending) return;
  pollfd p{c->fd.get(), 0, 0};
  if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL))) return close(c);
  std::weak_ptr<Connection> weak = c;
  c->timer = reactor_.add_timer(limits_.hangup_check, [this, weak] {
    if (Ptr alive = weak.lock()) {
      alive->timer = 0;
      check_hangup(alive);
    }
  });
}

void ControlServer::respond(const Ptr& c, const ControlReply& reply) {
  if (c->state != Connection::State::kPending) return;  // a second answer, or a late one
  if (c->timer != 0) reactor_.cancel_timer(c->timer);
  c->timer = 0;
  c->state = Connection::State::kWriting;
  c->out = encode_control_reply(reply);
  arm_timeout(c, {});
  flush(c);
}

void ControlServer::fail(const Ptr& c, std::string message) {
  drop_input(*c);
  c->state = Connection::State::kWriting;
  c->out = encode_control_reply(ControlReply::failure(std::move(message)));
  arm_timeout(c, {});
  flush(c);
}

void ControlServer::drop_input(Connection& c) {
  buffered_ -= c.in.size();
  c.in = std::string();
}

// Sends what is left of the reply while discarding what the client still sends, so neither
// side can block the other. Once it is out, our side is shut down and the connection closes
// at the client's end of input: a client still sending never sees its writes refused.
void ControlServer::flush(const Ptr& c) {
  while (c->sent < c->out.size()) {
    ssize_t n = ::send(c->fd.get(), c->out.data() + c->sent, c->out.size() - c->sent,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      c->sent += static_cast<size_t>(n);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      uint32_t events = Reactor::kWritable | (c->eof ? 0u : Reactor::kReadable);
      reactor_.watch(c->fd.get(), events, [this, c](uint32_t fired) {
        if (fired & Reactor::kReadable) drain(c);
        if (connections_.count(c->fd.get()) != 0 && (fired & (Reactor::kWritable | Reactor::kError)))
          flush(c);
      });
      return;
    } else if (errno != EINTR) {
      return close(c);  // the client went away: nothing more to tell it
    }
  }
  c->out = std::string();
  if (c->eof) return close(c);
  ::shutdown(c->fd.get(), SHUT_WR);
  reactor_.watch(c->fd.get(), Reactor::kReadable, [this, c](uint32_t) { drain(c); });
  drain(c);
}

void ControlServer::drain(const Ptr& c) {
  char buffer[65536];
  // A few reads a turn: a client that sends as fast as we discard must not starve the loop.
  for (int reads = 0; !c->eof; ++reads) {
    if (reads == 16) return;  // the watch stays: the rest comes next turn
    ssize_t n = ::recv(c->fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) return close(c);
    c->eof = true;
  }
  if (c->sent >= c->out.size()) return close(c);  // everything said and heard
  // Still sending: stop asking for input that is over.
  reactor_.watch(c->fd.get(), Reactor::kWritable, [this, c](uint32_t) { flush(c); });
}

void ControlServer::close(const Ptr& connection) {
  Ptr c = connection;  // the argument may be the map's own pointer, erased below
  auto it = connections_.find(c->fd.get());
  if (it == connections_.end() || it->second != c) return;
  if (c->timer != 0) reactor_.cancel_timer(c->timer);
  c->timer = 0;
  drop_input(*c);
  reactor_.unwatch(c->fd.get());
  connections_.erase(it);
  c->state = Connection::State::kClosed;
  c->fd.reset();
}

// ---------------------------------------------------------------------------------------------
// The client.

namespace {

// The longest reply a client takes: far above any real one (a hints reply lists at most the
// unknown paths of a 64 MiB request), so a broken server cannot exhaust the caller.
constexpr size_t kMaxReply = 256u << 20;

class Deadline {
 public:
  explicit Deadline(std::chrono::milliseconds timeout)
      : none_(timeout <= std::chrono::milliseconds::zero()),
        at_(std::chrono::steady_clock::now() + timeout) {}
  // Waits for `events` on fd; false when the deadline passed first.
  bool wait(int fd, short events) const {
    for (;;) {
      int ms = -1;
      if (!none_) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            at_ - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        ms = static_cast<int>(std::min<int64_t>(left.count(), 1 << 30));
      }
      pollfd p{fd, events, 0};
      int n = ::poll(&p, 1, ms);
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) return true;  // let the next call report the error
    }
  }

 private:
  bool none_;
  std::chrono::steady_clock::time_point at_;
};

// False when the server stopped taking input (it answered early, e.g. a refusal): the
// caller then reads that answer instead of failing on the write.
Result<bool> send_all(int fd, std::string_view data, const Deadline& deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!deadline.wait(fd, POLLOUT))
        return Error(ErrorKind::kTimeout, "the server did not take the request in time");
    } else if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
      return false;
    } else if (n < 0 && errno != EINTR) {
      return errno_error("sending to the control socket", errno);
    }
  }
  return true;
}

Result<std::string> receive_all(int fd, const Deadline& deadline) {
  std::string reply;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      reply.append(buffer, static_cast<size_t>(n));
      if (reply.size() > kMaxReply)
        return Error(ErrorKind::kServer,
                     "the reply is larger than " + std::to_string(kMaxReply) + " bytes");
    } else if (n == 0 || (errno == ECONNRESET && !reply.empty())) {
      // A reset after the reply: the server closed with input of ours unread.
      return reply;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!deadline.wait(fd, POLLIN))
        return Error(ErrorKind::kTimeout, "the server did not answer in time");
    } else if (errno != EINTR) {
      return errno_error("reading from the control socket", errno);
    }
  }
}

}  // namespace

Result<ControlReply> control_call(const std::string& path, const std::vector<std::string>& words,
                                  std::string_view body, std::chrono::milliseconds timeout) {
  Deadline deadline(timeout);
  SHOAL_ASSIGN(UniqueFd fd, connect_unix(path, "control"));
  SHOAL_ASSIGN(bool taken, send_all(fd.get(), encode_control_line(words), deadline));
  if (taken) {
    SHOAL_ASSIGN(taken, send_all(fd.get(), body, deadline));
  }
  if (taken) ::shutdown(fd.get(), SHUT_WR);
  SHOAL_ASSIGN(std::string text, receive_all(fd.get(), deadline));
  return decode_control_reply(text);
}

Result<ControlReply> control_request(const std::string& path,
                                     const std::vector<std::string>& words,
                                     std::string_view body, std::chrono::milliseconds timeout) {
  SHOAL_ASSIGN(ControlReply reply, control_call(path, words, body, timeout));
  if (!reply.ok)
    return Error(ErrorKind::kServer,
                 reply.error.empty() ? std::string("the server refused") : reply.error);
  return reply;
}

}  // namespace shoal
