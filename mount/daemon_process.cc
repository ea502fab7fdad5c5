#include "mount/daemon_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "mount/proc.h"
#include "common/unique_fd.h"

namespace shoal::mount {
namespace {

using Clock = std::chrono::steady_clock;

// In the child: nothing here may allocate or take a lock another thread of the parent could
// have held at the fork.
[[noreturn]] void exec_child(char* const* argv, int null_fd, int log_fd, int ready_fd) {
  ::setsid();
  ::dup2(null_fd, STDIN_FILENO);
  ::dup2(log_fd, STDOUT_FILENO);
  ::dup2(log_fd, STDERR_FILENO);
  if (ready_fd == 3)
    ::fcntl(3, F_SETFD, 0);  // dup2 onto itself would keep FD_CLOEXEC
  else
    ::dup2(ready_fd, 3);
  ::syscall(SYS_close_range, 4u, ~0u, 0u);
  ::execvp(argv[0], argv);
  static const char message[] = "shoal: cannot run shoald: exec failed\n";
  ssize_t ignored = ::write(STDERR_FILENO, message, sizeof message - 1);
  (void)ignored;
  ::_exit(127);
}

// The daemon's one readiness line ("ready" / "error …"), or "" if it exited or stayed silent
// past the deadline.
std::string read_ready_line(int fd, std::chrono::milliseconds timeout) {
  std::string line;
  auto deadline = Clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return "";
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return "";
    char buf[256];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return "";
    line.append(buf, static_cast<size_t>(n));
    if (size_t end = line.find('\n'); end != std::string::npos) return line.substr(0, end);
  }
}

// Reaps `pid` if it is our child and has exited; harmless (ECHILD) otherwise.
void reap(int64_t pid) { ::waitpid(static_cast<pid_t>(pid), nullptr, WNOHANG); }

bool wait_gone(int64_t pid, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    reap(pid);
    if (!daemon_alive(pid)) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

std::string log_tail(const std::string& log, size_t count) {
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string out;
  for (size_t i = lines.size() > count ? lines.size() - count : 0; i < lines.size(); ++i)
    out += "  " + lines[i] + "\n";
  return out;
}

Result<int64_t> start_daemon(const std::vector<std::string>& args, const std::string& log,
                             std::chrono::milliseconds ready_timeout) {
  if (args.empty()) return Error(ErrorKind::kInvalidArgument, "no shoald command line");
  UniqueFd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log_fd.valid()) return errno_error("creating the daemon log " + log, errno);
  UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_fd.valid()) return errno_error("/dev/null", errno);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return errno_error("pipe", errno);
  UniqueFd ready_read(pipe_fds[0]), ready_write(pipe_fds[1]);
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) exec_child(argv.data(), null_fd.get(), log_fd.get(), ready_write.get());
  if (pid < 0) return errno_error("fork", errno);
  ready_write.reset();  // so the read sees EOF when the daemon exits
  std::string line = read_ready_line(ready_read.get(), ready_timeout);
  if (line == "ready") return static_cast<int64_t>(pid);
  if (line.empty()) ::kill(pid, SIGKILL);  // silent past the deadline, or exited
  int status = 0;
  ::waitpid(pid, &status, 0);
  bool usage = WIFEXITED(status) && WEXITSTATUS(status) == 2;
  std::string why = line.starts_with("error ")
                        ? line.substr(6)
                        : "shoald exited without starting; its log:\n" + log_tail(log);
  return Error(usage ? ErrorKind::kInvalidArgument : ErrorKind::kInternal,
               "shoald could not start: " + why);
}

void stop_daemon(int64_t pid, std::chrono::milliseconds timeout) {
  reap(pid);
  if (!daemon_alive(pid)) return;
  ::kill(static_cast<pid_t>(pid), SIGTERM);
  if (wait_gone(pid, timeout)) return;
  ::kill(static_cast<pid_t>(pid), SIGKILL);
  wait_gone(pid, timeout);
}

}  // namespace shoal::mount
