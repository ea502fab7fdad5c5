// The control protocol of shoal's long-running processes (shoald, `shoal writer`): one
// request and one reply per connection over a Unix stream socket (mode 0600: whoever may
// connect may stop the daemon or make the writer upload any file it can read). One wire
// format, one server on the Reactor, one blocking client, so every tool — and a client in
// another language with nothing but its standard library — speaks to both the same way.
//
// Wire format
//
//   request = line [body]
//   line    = word *(" " word) "\n"      the command, then its arguments
//   body    = every byte after the line, up to the client's shutdown(SHUT_WR)
//   reply   = status *field ["\n" body]  then the server closes the connection
//   status  = "ok\n" | "error " value "\n"
//   field   = name " " value "\n"        name: a word; fields may repeat, order is kept
//
//   Words (and field names) are percent-encoded: a byte 0x21-0x7E other than '%' may stand
//   as itself, any byte may be written as '%' and two hex digits (either case), and every
//   other byte (space, '%', control bytes, bytes >= 0x80) must be. So a word never holds a
//   raw space or newline; words are separated by exactly one space (an empty word shows as
//   two adjacent spaces). Values (the error message, field values) are encoded the same way
//   except that a raw space may also stand as itself, which keeps replies readable in a
//   terminal; a value runs to the end of its line. Anything else — a raw control byte, a '%'
//   without two hex digits — makes the request malformed. Python: words are
//   urllib.parse.quote(w, safe=""), values and names decode with urllib.parse.unquote.
//
//   Only the commands that take a body (shoald's `hints`) read one: the server waits for the
//   client's shutdown(SHUT_WR) and hands the bytes over unchanged. Other commands are run as
//   soon as their line is complete; whatever follows the line is read and discarded, so a
//   client may always send, shut down its side and then read to the end.
//
//   A reply's output is fields, except where the output is a document of its own format (the
//   Prometheus text of `stats`): then it is the body, after an empty line, to the end of the
//   connection. A reader splits at the first empty line; without one there is no body.
//
//   The server answers "error <message>" (and then closes, reading and discarding whatever
//   else the client sends) to: a line longer than ControlLimits::max_line, a body longer than
//   max_body, more than max_buffered bytes buffered over all connections, a malformed line,
//   an empty command, an unknown command (the message lists the known ones), a request cut
//   off before its newline, a request not complete within `timeout`, and a connection past
//   max_connections (refused before it sent anything). A client that closes before the
//   answer costs nothing beyond its handler's work: the answer is dropped.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/reactor.h"
#include "common/result.h"
#include "common/socket.h"
#include "common/unique_fd.h"

namespace shoal {

struct ControlReply {
  bool ok = true;
  std::string error;  // when !ok
  std::vector<std::pair<std::string, std::string>> fields;
  std::string body;

  static ControlReply failure(std::string message) {
    ControlReply r;
    r.ok = false;
    r.error = std::move(message);
    return r;
  }
  static ControlReply document(std::string body) {
    ControlReply r;
    r.body = std::move(body);
    return r;
  }
  void add(std::string name, std::string value) {
    fields.emplace_back(std::move(name), std::move(value));
  }
  // The first field of that name, or "".
  std::string get(std::string_view name) const;
  // Every value of that name, in order.
  std::vector<std::string> all(std::string_view name) const;
};

struct ControlRequest {
  std::vector<std::string> words;  // never empty: words[0] is the command
  std::string body;                // empty for commands that take none

  const std::string& command() const { return words.front(); }
};

// Answers a request; may be called later (the writer's `flush --wait`) from the loop thread.
// Only the first call counts. After the client left or the server was destroyed it does
// nothing, so a handler never needs to know either.
using ControlRespond = std::function<void(ControlReply)>;

struct ControlCommand {
  std::string name;
  bool takes_body = false;
  std::function<void(ControlRequest request, ControlRespond respond)> run;

  // A command answered before `run` returns.
  static ControlCommand sync(std::string name,
                             std::function<ControlReply(const ControlRequest&)> run,
                             bool takes_body = false);
};

// The pieces of the wire format, for the server, the client and tests.
std::string encode_control_word(std::string_view word);
std::string encode_control_value(std::string_view value);
Result<std::string> decode_control_word(std::string_view text);
Result<std::string> decode_control_value(std::string_view text);
// The request line, '\n' included.
std::string encode_control_line(const std::vector<std::string>& words);
// The words of a line given without its '\n'.
Result<std::vector<std::string>> decode_control_line(std::string_view line);
std::string encode_control_reply(const ControlReply& reply);
Result<ControlReply> decode_control_reply(std::string_view text);

struct ControlLimits {
  size_t max_line = 64u << 10;
  // A hint list of about a million paths.
  size_t max_body = 64u << 20;
  // Over all connections at once: room for two full bodies, no more, however many clients.
  size_t max_buffered = 128u << 20;
  size_t max_connections = 64;
  // For the request to arrive, and again for the reply to be taken; not while a handler
  // works (a `flush --wait` may take as long as the uploads do).
  std::chrono::milliseconds timeout{60'000};
  // How often a connection whose answer is pending is checked for a client that hung up.
  std::chrono::milliseconds hangup_check{1'000};
};

class ControlServer {
 public:
  // Listens on `path` (mode 0600; a stale socket file is replaced, a live one refused) on
  // `reactor`, answering `commands`. The file is removed when the server is destroyed.
  static Result<std::unique_ptr<ControlServer>> listen(Reactor& reactor, const std::string& path,
                                                       std::vector<ControlCommand> commands,
                                                       ControlLimits limits = {});
  ~ControlServer();  // closes every connection; pending answers are dropped
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& path() const { return listener_.path(); }
  size_t connection_count() const { return connections_.size(); }

 private:
  struct Connection;
  using Ptr = std::shared_ptr<Connection>;

  ControlServer(Reactor& reactor, UnixListener listener, std::vector<ControlCommand> commands,
                ControlLimits limits);
  void accept_all();
  void on_readable(const Ptr& c);
  bool take_line(const Ptr& c);
  void dispatch(const Ptr& c);
  void check_hangup(const Ptr& c);
  void respond(const Ptr& c, const ControlReply& reply);
  void fail(const Ptr& c, std::string message);
  void flush(const Ptr& c);
  void drain(const Ptr& c);
  void drop_input(Connection& c);
  void arm_timeout(const Ptr& c, std::string message);
  void close(const Ptr& c);
  const ControlCommand* find(std::string_view name) const;

  Reactor& reactor_;
  UnixListener listener_;
  std::vector<ControlCommand> commands_;
  ControlLimits limits_;
  size_t buffered_ = 0;
  std::unordered_map<int, Ptr> connections_;
};

// A call with no deadline: the writer's `flush --wait` takes as long as the uploads do.
inline constexpr std::chrono::milliseconds kControlNoTimeout{0};

// Sends one request to the server at `path` (the line, then `body`, then shutdown(SHUT_WR))
// and returns its whole reply, "error" replies included. Nobody listening there is kNotFound;
// no reply within `timeout` (unless kControlNoTimeout) is kTimeout; a reply that is not in the
// format is kServer. Blocking and thread-safe.
Result<ControlReply> control_call(const std::string& path, const std::vector<std::string>& words,
                                  std::string_view body = {},
                                  std::chrono::milliseconds timeout = kControlNoTimeout);

// control_call for callers that only want a successful reply: an "error" reply becomes a
// kServer Error carrying the server's message.
Result<ControlReply> control_request(const std::string& path,
                                     const std::vector<std::string>& words,
                                     std::string_view body = {},
                                     std::chrono::milliseconds timeout = kControlNoTimeout);

}  // namespace shoal
