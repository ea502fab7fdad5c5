// A minimal scripted HTTP/1.1 server on 127.0.0.1 for unit tests of the HTTP client and the
// REST store: one thread per connection, keep-alive, request bodies sized by Content-Length.
// A handler decides each answer, written verbatim, so a test can script what no real server
// does on demand: throttling, truncated bodies, wrong checksums, hung connections.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace shoal {

class HttpTestServer {
 public:
  // What the server received.
  struct Request {
    std::string method;
    std::string target;  // as on the request line: encoded path and query
    std::vector<std::pair<std::string, std::string>> headers;  // as sent
    std::string body;

    const std::string* header(std::string_view name) const;  // case-insensitive
    std::string path() const;   // the target before '?'
    std::string query() const;  // the target after '?', "" without one
  };

  // What it does about it.
  struct Reply {
    std::string bytes;   // written verbatim
    bool close = false;  // close the connection after writing
    bool hang = false;   // write, then stay silent until the server stops
  };

  // Runs on the connection's thread, possibly several at once.
  using Handler = std::function<Reply(const Request&)>;

  // Listens on an ephemeral loopback port; aborts with a message if it cannot (a test
  // without its server cannot run, and must not pass).
  explicit HttpTestServer(Handler handler);
  ~HttpTestServer();  // unblocks hung replies, closes every connection, joins every thread
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  // The replies in turn, one per request in arrival order; the last one repeats.
  static Handler script(std::vector<Reply> replies);

  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string endpoint() const { return "http://" + host(); }
  int connections() const { return connections_.load(); }
  int requests() const { return requests_.load(); }
  std::vector<Request> received();

 private:
  void accept_loop();
  void serve(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread acceptor_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<int> conn_fds_;
  std::vector<std::thread> workers_;
  std::vector<Request> received_;
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
};

// "HTTP/1.1 <status> X", a Content-Length matching `body`, `extra_headers` (each line ending
// in "\r\n"), then the body.
std::string http_reply(int status, std::string_view body, std::string_view extra_headers = "");

}  // namespace shoal
