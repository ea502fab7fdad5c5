#include "support/s3rver.h"
#include "support/loopback.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

extern char** environ;

namespace shoal {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string s3rver_script() {
  return std::string(SHOAL_SOURCE_DIR) + "/.deps/node_modules/.bin/s3rver";
}

using test::accepts_connections;
using test::free_loopback_port;

// Waits up to `limit` for the child to exit; true when it has been reaped.
bool reap(pid_t pid, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    pid_t r = ::waitpid(pid, nullptr, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

}  // namespace

Result<std::unique_ptr<S3rver>> S3rver::start(std::vector<std::string> buckets) {
  if (::access(s3rver_script().c_str(), X_OK) != 0)
    return Error(ErrorKind::kNotFound, "s3rver is not installed at " + s3rver_script() +
                                           ": run scripts/setup");
  std::unique_ptr<S3rver> server(new S3rver());
  server->buckets_ = std::move(buckets);
  std::string pattern = (fs::temp_directory_path() / "shoal-s3rver-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) return errno_error("creating " + pattern, errno);
  server->dir_ = pattern;
  SHOAL_ASSIGN(server->port_, free_loopback_port());
  SHOAL_TRY(server->launch());
  return server;
}

S3rver::~S3rver() {
  stop();
  std::error_code ignored;
  if (!dir_.empty()) fs::remove_all(dir_, ignored);
}

std::string S3rver::endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

StoreConfig S3rver::config() const {
  StoreConfig config;
  config.endpoint = endpoint();
  config.region = "us-east-1";
  config.credentials.access_key_id = "S3RVER";
  config.credentials.secret_access_key = "S3RVER";
  config.retry.max_attempts = 3;
  config.retry.base = 10ms;
  config.retry.cap = 100ms;
  config.connect_timeout = 2000ms;
  config.request_timeout = 10000ms;
  return config;
}

void S3rver::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  if (!reap(pid_, 5000ms)) {
    ::kill(pid_, SIGKILL);
    reap(pid_, 5000ms);
  }
  pid_ = -1;
}

Status S3rver::restart() {
  stop();
  return launch();
}

Status S3rver::launch() {
  std::string data = dir_ + "/data";
  std::string log = dir_ + "/s3rver.log";
  std::vector<std::string> args = {s3rver_script(), "--directory", data, "--port",
                                   std::to_string(port_), "--address", "127.0.0.1", "--silent"};
  for (const std::string& b : buckets_) {
    args.push_back("--configure-bucket");
    args.push_back(b);
  }
  std::vector<std::string> env = {"NODE_OPTIONS=--openssl-legacy-provider"};
  for (char** e = environ; *e != nullptr; ++e)
    if (std::string_view(*e).rfind("NODE_OPTIONS=", 0) != 0) env.emplace_back(*e);
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  for (auto& e : env) envp.push_back(e.data());
  argv.push_back(nullptr);
  envp.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) return errno_error("fork for s3rver", errno);
  if (pid == 0) {
    // The server must not outlive a crashed test.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  pid_ = pid;
  return wait_until_ready();
}

Status S3rver::wait_until_ready() {
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (accepts_connections(port_)) return {};
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return Error(ErrorKind::kInternal, "s3rver exited at startup (is node installed? run "
                                         "scripts/setup); its log:\n" + log_tail());
    }
    std::this_thread::sleep_for(20ms);
  }
  stop();
  return Error(ErrorKind::kTimeout, "s3rver did not listen on port " + std::to_string(port_) +
                                        " within 30 s; its log:\n" + log_tail());
}

std::string S3rver::log_tail() const {
  std::ifstream in(dir_ + "/s3rver.log");
  std::stringstream all;
  all << in.rdbuf();
  std::string text = all.str();
  return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
}

std::vector<std::string> numbered_keys(const std::string& prefix, int n) {
  std::vector<std::string> keys;
  char name[16];
  for (int i = 0; i < n; ++i) {
    std::snprintf(name, sizeof name, "%05d", i);
    keys.push_back(prefix + name);
  }
  return keys;
}

Status put_keys(PollReactor& loop, ObjectStore& store, const std::vector<std::string>& keys,
                int parallel) {
  size_t next = 0, finished = 0;
  std::optional<Error> failure;
  std::function<void()> issue = [&] {
    if (next >= keys.size()) return;
    const std::string& key = keys[next++];
    store.put(key, Body::from_string(key), [&](Result<PutReply> r) {
      ++finished;
      if (!r.ok() && !failure) failure = r.error();
      issue();
    });
  };
  for (int i = 0; i < parallel; ++i) issue();
  if (!loop.run_until([&] { return finished == keys.size(); }))
    return Error(ErrorKind::kInternal, "the reactor went idle while putting keys");
  if (failure) return *failure;
  return {};
}

}  // namespace shoal
