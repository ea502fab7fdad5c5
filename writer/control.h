// The writer's control socket: a Unix stream socket on the writer's loop, and its client.
//
// Wire format, one exchange per connection: the client sends one line of space-separated
// words, each percent-encoded (so paths may hold spaces or newlines); the server answers
// "ok" or "error <message>" on the first line, then "<name> <value>" lines (values
// percent-encoded), and closes the connection.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/reactor.h"
#include "common/result.h"
#include "common/socket.h"

namespace shoal {

struct ControlReply {
  bool ok = true;
  std::string error;  // when !ok
  std::vector<std::pair<std::string, std::string>> fields;

  static ControlReply failure(std::string message) {
    ControlReply r;
    r.ok = false;
    r.error = std::move(message);
    return r;
  }
  void add(std::string name, std::string value) {
    fields.emplace_back(std::move(name), std::move(value));
  }
  // The first field of that name, or "".
  std::string get(std::string_view name) const;
};

std::string encode_control_request(const std::vector<std::string>& words);
Result<std::vector<std::string>> decode_control_request(std::string_view line);
std::string encode_control_reply(const ControlReply& reply);
Result<ControlReply> decode_control_reply(std::string_view text);

class ControlServer {
 public:
  using Respond = std::function<void(ControlReply)>;
  // Called on the loop for each request; respond may be called later (flush --wait), once.
  using Handler = std::function<void(std::vector<std::string> words, Respond respond)>;

  // Binds `path`. A stale socket file (nobody accepting) is replaced; a live one is an error,
  // since it means another writer answers there.
  static Result<std::unique_ptr<ControlServer>> listen(Reactor& reactor, std::string path,
                                                       Handler handler);
  ~ControlServer();  // closes every connection and removes the socket file
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  struct Connection;
  ControlServer(Reactor& reactor, UnixListener listener, Handler handler);
  void accept_all();
  void on_readable(const std::shared_ptr<Connection>& c);
  void on_writable(const std::shared_ptr<Connection>& c);
  void respond(const std::weak_ptr<Connection>& weak, const ControlReply& reply);
  void close(int fd);

  Reactor& reactor_;
  UnixListener listener_;
  Handler handler_;
  std::vector<std::shared_ptr<Connection>> connections_;
};

// Sends one request to the writer at `socket_path` and waits for the whole answer (flush
// --wait may take as long as the uploads do). kNotFound when no writer listens there.
Result<ControlReply> control_call(const std::string& socket_path,
                                  const std::vector<std::string>& words);

}  // namespace shoal
