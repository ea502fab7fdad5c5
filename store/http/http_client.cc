#include "store/http/http_client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "store/url_encode.h"

namespace shoal {
namespace {

// Content-Length is only a hint for reserve(): a lying server must not make us allocate
// gigabytes up front; past this the string grows as bytes arrive.
constexpr uint64_t kMaxReserve = 64ull << 20;

bool global_init_ok() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return code == CURLE_OK;
}

bool has_body(const std::string& method) { return method == "PUT" || method == "POST"; }

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

ErrorKind transport_kind(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT: return ErrorKind::kTimeout;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return ErrorKind::kInvalidArgument;
    case CURLE_OUT_OF_MEMORY: return ErrorKind::kInternal;
    // A certificate the client does not trust stays untrusted however often it is tried: a
    // configuration to fix (see tls_advice), not a transient network error to retry.
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH: return ErrorKind::kAccessDenied;
    default: return ErrorKind::kNetwork;
  }
}

}  // namespace

HttpClientOptions HttpClientOptions::from(const StoreConfig& config) {
  HttpClientOptions o;
  o.max_host_connections = config.max_connections;
  o.connect_timeout = config.connect_timeout;
  o.stall_timeout = config.request_timeout;
  o.verify_tls = config.verify_tls;
  o.ca_file = config.ca_file;
  return o;
}

// One request in flight: the curl easy handle and everything it points into.
struct HttpClient::Transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string url;
  std::string what;  // "GET host/path" for error messages; never the query (it may be signed)
  std::string method;
  Body body;
  int fd = -1;  // open file of a file body
  uint64_t body_pos = 0;
  std::optional<Error> body_error;  // why reading the body failed, if it did
  // Where a 2xx body goes when the caller gave memory for it, and how it is doing there.
  std::vector<iovec> into;
  uint64_t into_capacity = 0;
  enum class Sink { kUndecided, kInto, kString } sink = Sink::kUndecided;
  size_t into_index = 0;   // iovec being filled
  uint64_t into_used = 0;  // bytes of it filled
  HttpResponse response;
  Callback done;
  char error_text[CURL_ERROR_SIZE] = {};

  ~Transfer() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    if (fd >= 0) ::close(fd);
  }

  Result<HttpResponse> outcome(CURLcode code) {
    if (code == CURLE_OK) {
      long status = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      response.status = static_cast<int>(status);
      return std::move(response);
    }
    if (body_error) return std::move(*body_error);
    std::string detail = error_text[0] != '\0' ? error_text : curl_easy_strerror(code);
    if (code == CURLE_PARTIAL_FILE) detail = "response body truncated (" + detail + ")";
    if (transport_kind(code) == ErrorKind::kAccessDenied)
      detail = "TLS: " + detail +
               " — if the store uses a private CA, give it as [store] ca_file or in "
               "AWS_CA_BUNDLE (verify_tls = false turns checking off, for test servers only)";
    return Error(transport_kind(code), what + ": " + detail);
  }

  static size_t on_header(char* data, size_t size, size_t n, void* self) {
    auto* t = static_cast<Transfer*>(self);
    std::string_view line(data, size * n);
    if (line.starts_with("HTTP/")) {
      t->response.headers.clear();  // a new response begins (after "100 Continue", say)
      t->restart_body();
      return size * n;
    }
    size_t colon = line.find(':');
    if (colon != std::string_view::npos)
      t->response.headers.emplace_back(lower(trim(line.substr(0, colon))),
                                        trim(line.substr(colon + 1)));
    return size * n;
  }

  void restart_body() {
    sink = Sink::kUndecided;
    into_index = 0;
    into_used = 0;
    response.body.clear();
    response.body_in_place = false;
    response.body_placed = 0;
  }

  // A 2xx body that fits goes to the caller's memory: no string grown piece by piece, no copy
  // after. Anything else (an error document, a body larger than announced room) is kept in
  // response.body, where the caller's checks expect it.
  void decide_sink() {
    sink = Sink::kString;
    if (into_capacity == 0) return;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t length = -1;
    curl_easy_getinfo(easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    if (status < 200 || status >= 300) return;
    if (length > 0 && static_cast<uint64_t>(length) > into_capacity) return;
    sink = Sink::kInto;
    response.body_in_place = true;
  }

  // The body outgrew the caller's memory: what is there moves to the string, and the rest
  // follows it.
  void spill() {
    std::string& text = response.body;
    text.reserve(response.body_placed);
    uint64_t left = response.body_placed;
    for (const iovec& v : into) {
      if (left == 0) break;
      uint64_t m = std::min<uint64_t>(left, v.iov_len);
      text.append(static_cast<const char*>(v.iov_base), m);
      left -= m;
    }
    response.body_in_place = false;
    response.body_placed = 0;
    sink = Sink::kString;
  }

  void place(const char* data, uint64_t n) {
    response.body_placed += n;
    while (n > 0) {
      const iovec& v = into[into_index];
      uint64_t m = std::min<uint64_t>(n, v.iov_len - into_used);
      std::memcpy(static_cast<char*>(v.iov_base) + into_used, data, m);
      data += m;
      n -= m;
      into_used += m;
      if (into_used == v.iov_len) {
        ++into_index;
        into_used = 0;
      }
    }
  }

  static size_t on_body(char* data, size_t size, size_t n, void* self) {
    auto* t = static_cast<Transfer*>(self);
    uint64_t bytes = uint64_t{size} * n;
    if (t->sink == Sink::kUndecided) t->decide_sink();
    if (t->sink == Sink::kInto) {
      if (t->response.body_placed + bytes <= t->into_capacity) {
        t->place(data, bytes);
        return size * n;
      }
      t->spill();
    }
    std::string& body = t->response.body;
    if (body.capacity() == 0) {
      curl_off_t length = -1;
      curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
      if (length > 0) body.reserve(std::min<uint64_t>(static_cast<uint64_t>(length), kMaxReserve));
    }
    body.append(data, size * n);
    return size * n;
  }

  static size_t on_read(char* buf, size_t size, size_t n, void* self) {
    auto* t = static_cast<Transfer*>(self);
    uint64_t left = t->body.size() - t->body_pos;
    size_t want = static_cast<size_t>(std::min<uint64_t>(left, size * n));
    if (want == 0) return 0;
    if (!t->body.is_file()) {
      std::memcpy(buf, t->body.data.data() + t->body_pos, want);
      t->body_pos += want;
      return want;
    }
    ssize_t got;
    do {
      got = ::pread(t->fd, buf, want, static_cast<off_t>(t->body.offset + t->body_pos));
    } while (got < 0 && errno == EINTR);
    if (got <= 0) {
      t->body_error = got < 0 ? errno_error("reading request body " + t->body.path, errno)
                              : Error(ErrorKind::kIo, "request body " + t->body.path +
                                                          " is shorter than the " +
                                                          std::to_string(t->body.size()) +
                                                          " bytes to send");
      return CURL_READFUNC_ABORT;
    }
    t->body_pos += static_cast<uint64_t>(got);
    return static_cast<size_t>(got);
  }

  // libcurl rewinds when it must resend the body, e.g. on a reused connection the server had
  // already closed.
  static int on_seek(void* self, curl_off_t offset, int origin) {
    auto* t = static_cast<Transfer*>(self);
    if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > t->body.size())
      return CURL_SEEKFUNC_FAIL;
    t->body_pos = static_cast<uint64_t>(offset);
    return CURL_SEEKFUNC_OK;
  }
};

Result<std::unique_ptr<HttpClient>> HttpClient::create(Reactor& reactor,
                                                       HttpClientOptions options) {
  if (!global_init_ok()) return Error(ErrorKind::kInternal, "libcurl global init failed");
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return Error(ErrorKind::kInternal, "curl_multi_init failed");
  return std::unique_ptr<HttpClient>(new HttpClient(reactor, options, multi));
}

HttpClient::HttpClient(Reactor& reactor, HttpClientOptions options, void* multi)
    : reactor_(reactor), options_(options), multi_(multi) {
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &HttpClient::on_socket_change);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &HttpClient::on_timer_change);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  long connections = std::max(1, options_.max_host_connections);
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, connections);
  // The idle-connection cache otherwise shrinks with the number of handles in flight, closing
  // connections a burst opened just before the next burst would reuse them.
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, connections);
}

HttpClient::~HttpClient() {
  alive_.reset();
  for (auto& [easy, transfer] : transfers_) curl_multi_remove_handle(multi_, easy);
  transfers_.clear();
  for (void* easy : idle_easy_) curl_easy_cleanup(static_cast<CURL*>(easy));
  idle_easy_.clear();
  curl_multi_cleanup(multi_);  // closes cached connections, unwatching their sockets
  reactor_.cancel_timer(timer_);
  for (auto& [fd, events] : watched_) reactor_.unwatch(fd);
}

void HttpClient::send(HttpRequest request, Callback done) {
  Result<std::unique_ptr<Transfer>> prepared = prepare(std::move(request), std::move(done));
  if (!prepared.ok()) return;  // prepare() already scheduled the failure callback
  std::unique_ptr<Transfer> transfer = std::move(prepared).value();
  CURL* easy = transfer->easy;
  CURLMcode added = curl_multi_add_handle(multi_, easy);
  if (added != CURLM_OK) {
    fail_later(std::move(transfer->done),
               Error(ErrorKind::kInternal, transfer->what + ": " + curl_multi_strerror(added)));
    return;
  }
  ++requests_sent_;
  transfers_.emplace(easy, std::move(transfer));
}

Result<std::unique_ptr<HttpClient::Transfer>> HttpClient::prepare(HttpRequest request,
                                                                  Callback done) {
  auto t = std::make_unique<Transfer>();
  t->what = request.method + " " + request.host + request.path;
  t->url = request.scheme + "://" + request.host + request_target(request);
  t->method = request.method;
  t->body = std::move(request.body);
  t->into = std::move(request.response_into);
  for (const iovec& v : t->into) t->into_capacity += v.iov_len;
  t->done = std::move(done);
  auto fail = [&](Error e) -> Error {
    fail_later(std::move(t->done), e);
    return e;
  };
  if (has_body(t->method) && t->body.is_file()) {
    t->fd = ::open(t->body.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (t->fd < 0) return fail(errno_error("opening request body " + t->body.path, errno));
  }
  // A finished transfer's handle, reset, before a new one: creating and destroying a handle per
  // request allocates and frees libcurl's buffers each time, which showed in profiles.
  if (!idle_easy_.empty()) {
    t->easy = static_cast<CURL*>(idle_easy_.back());
    idle_easy_.pop_back();
    curl_easy_reset(t->easy);
  } else {
    t->easy = curl_easy_init();
  }
  if (t->easy == nullptr) return fail(Error(ErrorKind::kInternal, "curl_easy_init failed"));

  for (const auto& [name, value] : request.headers)
    t->headers =
        curl_slist_append(t->headers, (name + (value.empty() ? ";" : ": " + value)).c_str());
  // No "Expect: 100-continue" round trip before uploads, and no Accept header nobody signed.
  t->headers = curl_slist_append(t->headers, "Expect:");
  t->headers = curl_slist_append(t->headers, "Accept:");

  CURL* e = t->easy;
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
  curl_easy_setopt(e, CURLOPT_URL, t->url.c_str());
  curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);  // keys may hold "//", "/./" or "/../"
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  auto stall_s = std::chrono::ceil<std::chrono::seconds>(options_.stall_timeout).count();
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, static_cast<long>(std::max<int64_t>(1, stall_s)));
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
  if (!options_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error_text);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Transfer::on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());

  if (t->method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (has_body(t->method)) {
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t->body.size()));
    curl_easy_setopt(e, CURLOPT_READFUNCTION, &Transfer::on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, t.get());
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, &Transfer::on_seek);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, t.get());
    if (t->method != "PUT") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->method.c_str());
  } else if (t->method != "GET") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->method.c_str());
  }
  return t;
}

void HttpClient::fail_later(Callback done, Error error) {
  std::weak_ptr<char> alive = alive_;
  reactor_.post([alive, done = std::move(done), error = std::move(error)]() mutable {
    if (!alive.expired()) done(std::move(error));
  });
}

int HttpClient::on_socket_change(void*, int fd, int what, void* self_ptr, void*) {
  auto* self = static_cast<HttpClient*>(self_ptr);
  if (what == CURL_POLL_REMOVE) {
    self->reactor_.unwatch(fd);
    self->watched_.erase(fd);
    return 0;
  }
  uint32_t events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= Reactor::kReadable;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= Reactor::kWritable;
  self->watched_[fd] = events;
  self->reactor_.watch(fd, events,
                       [self, fd](uint32_t fired) { self->on_socket_ready(fd, fired); });
  return 0;
}

int HttpClient::on_timer_change(void*, long timeout_ms, void* self_ptr) {
  auto* self = static_cast<HttpClient*>(self_ptr);
  self->reactor_.cancel_timer(self->timer_);
  self->timer_ = 0;
  // libcurl must not be re-entered from its own callback, so even "now" (0) goes through the
  // reactor.
  if (timeout_ms >= 0)
    self->timer_ = self->reactor_.add_timer(std::chrono::milliseconds(timeout_ms),
                                            [self] { self->on_timeout(); });
  return 0;
}

void HttpClient::on_socket_ready(int fd, uint32_t fired) {
  int flags = 0;
  if (fired & Reactor::kReadable) flags |= CURL_CSELECT_IN;
  if (fired & Reactor::kWritable) flags |= CURL_CSELECT_OUT;
  if (fired & Reactor::kError) flags |= CURL_CSELECT_ERR;
  int running = 0;
  curl_multi_socket_action(multi_, fd, flags, &running);
  deliver_finished();
}

void HttpClient::on_timeout() {
  timer_ = 0;
  int running = 0;
  curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
  deliver_finished();
}

void HttpClient::deliver_finished() {
  std::vector<std::pair<std::unique_ptr<Transfer>, CURLcode>> finished;
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    CURLcode code = msg->data.result;  // read before remove_handle frees msg
    auto node = transfers_.extract(easy);
    curl_multi_remove_handle(multi_, easy);
    if (!node.empty()) finished.emplace_back(std::move(node.mapped()), code);
  }
  std::weak_ptr<char> alive = alive_;
  for (auto& [transfer, code] : finished) {
    if (alive.expired()) return;  // an earlier callback destroyed the client: drop the rest
    Callback done = std::move(transfer->done);
    Result<HttpResponse> outcome = transfer->outcome(code);
    if (idle_easy_.size() < kMaxIdleHandles) {
      idle_easy_.push_back(transfer->easy);
      transfer->easy = nullptr;
    }
    transfer.reset();
    done(std::move(outcome));
  }
}

}  // namespace shoal
