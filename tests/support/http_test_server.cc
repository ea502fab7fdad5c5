#include "tests/support/http_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace shoal {
namespace {

bool read_more(int fd, std::string& buf) {
  char chunk[65536];
  ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
  if (n <= 0) return false;
  buf.append(chunk, static_cast<size_t>(n));
  return true;
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Fills the method, target and headers from the head (request line and header lines);
// returns the Content-Length.
size_t parse_head(const std::string& head, HttpTestServer::Request& r) {
  size_t line_end = head.find("\r\n");
  std::string request_line = head.substr(0, line_end);
  size_t sp1 = request_line.find(' '), sp2 = request_line.rfind(' ');
  r.method = request_line.substr(0, sp1);
  r.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t content_length = 0;
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string::npos) end = head.size();
    std::string line = head.substr(pos, end - pos);
    size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    size_t value_at = line.find_first_not_of(' ', colon + 1);
    std::string value = value_at == std::string::npos ? "" : line.substr(value_at);
    if (strcasecmp(name.c_str(), "content-length") == 0) content_length = std::stoul(value);
    r.headers.emplace_back(name, value);
    pos = end + 2;
  }
  return content_length;
}

std::optional<HttpTestServer::Request> read_request(int fd, std::string& buf) {
  size_t head_end;
  while ((head_end = buf.find("\r\n\r\n")) == std::string::npos)
    if (!read_more(fd, buf)) return std::nullopt;
  HttpTestServer::Request r;
  size_t content_length = parse_head(buf.substr(0, head_end), r);
  buf.erase(0, head_end + 4);
  while (buf.size() < content_length)
    if (!read_more(fd, buf)) return std::nullopt;
  r.body = buf.substr(0, content_length);
  buf.erase(0, content_length);
  return r;
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "HttpTestServer: %s: %s\n", what, std::strerror(errno));
  std::abort();
}

}  // namespace

const std::string* HttpTestServer::Request::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (n.size() == name.size() && strncasecmp(n.data(), name.data(), name.size()) == 0) return &v;
  return nullptr;
}

std::string HttpTestServer::Request::path() const { return target.substr(0, target.find('?')); }

std::string HttpTestServer::Request::query() const {
  size_t mark = target.find('?');
  return mark == std::string::npos ? "" : target.substr(mark + 1);
}

HttpTestServer::HttpTestServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  if (::listen(listen_fd_, 64) != 0) die("listen");
  socklen_t len = sizeof addr;
  if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    die("getsockname");
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

HttpTestServer::~HttpTestServer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (int fd : conn_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  cv_.notify_all();
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  for (auto& t : workers_) t.join();
  ::close(listen_fd_);
}

HttpTestServer::Handler HttpTestServer::script(std::vector<Reply> replies) {
  struct State {
    std::mutex mu;
    std::vector<Reply> replies;
    size_t next = 0;
  };
  auto state = std::make_shared<State>();
  state->replies = std::move(replies);
  return [state](const Request&) {
    std::lock_guard lock(state->mu);
    if (state->replies.empty()) return Reply{http_reply(500, "no reply scripted")};
    size_t i = std::min(state->next++, state->replies.size() - 1);
    return state->replies[i];
  };
}

std::vector<HttpTestServer::Request> HttpTestServer::received() {
  std::lock_guard lock(mu_);
  return received_;
}

void HttpTestServer::accept_loop() {
  while (true) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    std::lock_guard lock(mu_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    ++connections_;
    conn_fds_.push_back(fd);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

void HttpTestServer::serve(int fd) {
  std::string buf;
  while (auto request = read_request(fd, buf)) {
    {
      std::lock_guard lock(mu_);
      received_.push_back(*request);
    }
    ++requests_;  // after recording it, so a test that saw the count also sees the request
    Reply reply = handler_(*request);
    write_all(fd, reply.bytes);
    if (reply.hang) {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_; });
    }
    if (reply.close || reply.hang) break;
  }
  ::shutdown(fd, SHUT_RDWR);
  std::lock_guard lock(mu_);
  // Closed under the lock so the destructor never shuts down a recycled descriptor.
  std::erase(conn_fds_, fd);
  ::close(fd);
}

std::string http_reply(int status, std::string_view body, std::string_view extra_headers) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + std::string(extra_headers) + "\r\n" +
         std::string(body);
}

}  // namespace shoal
