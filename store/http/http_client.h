// An asynchronous HTTP/1.1 client on libcurl's multi-socket API, driven by a shoal::Reactor.
// libcurl never blocks and never owns a thread: it tells us which sockets to watch and when to
// wake it (socket and timer callbacks), and the reactor — poll(2) in tools, io_uring in the
// daemon — reports readiness back. One multi handle per client keeps connections alive and
// reuses them across requests to the same host.
//
// Outcomes: an HTTP exchange that completed yields an HttpResponse whatever its status (a 404
// is a response, not an error); a transport failure yields an Error of kind kNetwork (refused,
// reset, DNS, TLS, truncated body) or kTimeout (connect timeout, stalled transfer), or kIo when
// a file body could not be read.
//
// Callbacks run on the reactor's thread, never inline from send(). Destroying the client
// drops the callbacks of requests still in flight: they are never invoked (their owners are
// usually being destroyed too), and every socket, timer and curl handle is released. A callback
// may destroy the client; callbacks of other requests finished in the same round are dropped.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/reactor.h"
#include "common/result.h"
#include "store/http_request.h"
#include "store/store_config.h"

namespace shoal {

struct HttpClientOptions {
  int max_host_connections = 64;
  std::chrono::milliseconds connect_timeout{5000};
  // A transfer that moves no byte for this long fails with kTimeout (whole seconds, at least 1).
  std::chrono::milliseconds stall_timeout{60000};
  bool verify_tls = true;
  std::string ca_file;  // CURLOPT_CAINFO when set

  static HttpClientOptions from(const StoreConfig& config);
};

class HttpClient {
 public:
  using Callback = std::function<void(Result<HttpResponse>)>;

  // Fails only when libcurl cannot be initialised.
  static Result<std::unique_ptr<HttpClient>> create(Reactor& reactor, HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts the request. The URL is request.scheme://request.host + the encoded path and query.
  // PUT and POST upload request.body (from memory, or read from its file region as it is
  // sent); other methods send no body.
  void send(HttpRequest request, Callback done);

  // Requests handed to libcurl since creation (each retry counts): a metric, and what tests
  // use to prove that a failure was not retried.
  uint64_t requests_sent() const { return requests_sent_; }
  size_t in_flight() const { return transfers_.size(); }

 private:
  struct Transfer;
  HttpClient(Reactor& reactor, HttpClientOptions options, void* multi);

  Result<std::unique_ptr<Transfer>> prepare(HttpRequest request, Callback done);
  void fail_later(Callback done, Error error);

  static int on_socket_change(void* easy, int fd, int what, void* self, void* socket_data);
  static int on_timer_change(void* multi, long timeout_ms, void* self);
  void on_socket_ready(int fd, uint32_t fired);
  void on_timeout();
  // Hands finished transfers to their callbacks. Must be the last thing its caller does:
  // a callback may destroy the client.
  void deliver_finished();

  Reactor& reactor_;
  HttpClientOptions options_;
  void* multi_;  // CURLM*, kept opaque so users of this header need not include curl.h
  std::unordered_map<void*, std::unique_ptr<Transfer>> transfers_;  // by CURL* easy handle
  // Easy handles of finished transfers, kept for the next ones (at most kMaxIdleHandles).
  static constexpr size_t kMaxIdleHandles = 1024;
  std::vector<void*> idle_easy_;
  std::unordered_map<int, uint32_t> watched_;                        // fd → reactor events
  Reactor::TimerId timer_ = 0;
  uint64_t requests_sent_ = 0;
  // Posted closures and deliver_finished() check this to notice the client is gone.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace shoal
