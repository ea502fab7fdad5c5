#include "writer/watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "common/log.h"

namespace shoal {
namespace {

constexpr uint32_t kDirMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                              IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

void signal_fd(int fd) {
  uint64_t one = 1;
  ssize_t n = ::write(fd, &one, sizeof(one));
  (void)n;  // an eventfd counter does not overflow from a few signals
}

}  // namespace

Result<std::unique_ptr<Watcher>> Watcher::start(Reactor& reactor, std::vector<std::string> roots,
                                                std::string landing_dir, Ignored ignored,
                                                OnFile on_file, OnLost on_lost) {
  std::unique_ptr<Watcher> w(new Watcher(reactor, std::move(roots), std::move(landing_dir),
                                         std::move(ignored), std::move(on_file),
                                         std::move(on_lost)));
  w->inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  w->stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  w->notify_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (w->inotify_fd_ < 0 || w->stop_fd_ < 0 || w->notify_fd_ < 0)
    return errno_error("set up inotify", errno);
  std::error_code ec;
  std::filesystem::create_directories(w->landing_dir_, ec);
  if (ec) return Error(ErrorKind::kIo, "create " + w->landing_dir_ + ": " + ec.message());
  for (const auto& root : w->roots_) {
    std::filesystem::create_directories(root, ec);
    if (ec) return Error(ErrorKind::kIo, "create watched directory " + root + ": " + ec.message());
    SHOAL_TRY(w->add_tree(root, root, false));
  }
  Watcher* self = w.get();
  reactor.watch(w->notify_fd_, Reactor::kReadable, [self](uint32_t) { self->deliver(); });
  w->thread_ = std::thread([self] { self->thread_main(); });
  return w;
}

Watcher::Watcher(Reactor& reactor, std::vector<std::string> roots, std::string landing_dir,
                 Ignored ignored, OnFile on_file, OnLost on_lost)
    : reactor_(reactor), roots_(std::move(roots)), landing_dir_(std::move(landing_dir)),
      ignored_(std::move(ignored)), on_file_(std::move(on_file)), on_lost_(std::move(on_lost)) {}

Watcher::~Watcher() {
  if (thread_.joinable()) {
    signal_fd(stop_fd_);
    thread_.join();
    reactor_.unwatch(notify_fd_);
  }
  for (const auto& r : reports_)
    if (!r.found.landed.empty()) ::unlink(r.found.landed.c_str());
  for (int fd : {inotify_fd_, stop_fd_, notify_fd_})
    if (fd >= 0) ::close(fd);
}

Status Watcher::add_dir(const std::string& root, const std::string& dir) {
  int wd = ::inotify_add_watch(inotify_fd_, dir.c_str(), kDirMask);
  if (wd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return {};  // gone again already
    return errno_error("watch directory " + dir, errno);
  }
  dirs_[wd] = Dir{root, dir};
  return {};
}

// Watches `dir` and every directory below it. The watch on a directory is added before it is
// listed, so a file created in between is seen by the scan, the event, or both.
Status Watcher::add_tree(const std::string& root, const std::string& dir, bool report_files) {
  SHOAL_TRY(add_dir(root, dir));
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const auto& entry = *it;
    std::error_code type_ec;
    if (entry.is_directory(type_ec) && !entry.is_symlink(type_ec)) {
      SHOAL_TRY(add_tree(root, entry.path().string(), report_files));
    } else if (report_files && entry.is_regular_file(type_ec)) {
      report(Report{false, Found{root, entry.path().string(), ""}});
    }
  }
  return {};
}

void Watcher::rebuild() {
  for (const auto& [wd, dir] : dirs_) ::inotify_rm_watch(inotify_fd_, wd);
  dirs_.clear();
  for (const auto& root : roots_) {
    Status s = add_tree(root, root, false);
    if (!s.ok()) write_log(LogLevel::kError, s.error().describe());
  }
  report(Report{true, {}});
}

void Watcher::thread_main() {
  for (;;) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents) return;
    if (fds[0].revents) read_events();
  }
}

void Watcher::read_events() {
  alignas(inotify_event) char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(inotify_fd_, buf, sizeof(buf));
    if (n <= 0) return;  // EAGAIN: drained
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      handle(ev->mask, ev->wd, ev->len ? std::string(ev->name) : std::string());
      p += sizeof(inotify_event) + ev->len;
    }
  }
}

void Watcher::handle(uint32_t mask, int wd, const std::string& name) {
  if (mask & IN_Q_OVERFLOW) {
    write_log(LogLevel::kWarning, "inotify queue overflowed; rescanning the watched directories");
    return rebuild();
  }
  if (mask & IN_IGNORED) {
    dirs_.erase(wd);
    return;
  }
  auto it = dirs_.find(wd);
  if (it == dirs_.end()) return;
  Dir dir = it->second;
  // A watched directory moved: the paths of the watches below it are stale.
  if ((mask & IN_MOVE_SELF) || ((mask & IN_MOVED_FROM) && (mask & IN_ISDIR))) return rebuild();
  if (mask & IN_DELETE_SELF) return;
  std::string path = dir.path + "/" + name;
  if (mask & IN_ISDIR) {
    if (mask & (IN_CREATE | IN_MOVED_TO)) {
      Status s = add_tree(dir.root, path, true);
      if (!s.ok()) write_log(LogLevel::kError, s.error().describe());
    }
    return;
  }
  if (!(mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) || ignored_(dir.root, path)) return;
  report(Report{false, Found{dir.root, path, land(path)}});
}

std::string Watcher::land(const std::string& path) {
  std::string landed = landing_dir_ + "/" + std::to_string(++landed_);
  ::unlink(landed.c_str());  // left by an earlier process
  if (::link(path.c_str(), landed.c_str()) == 0) return landed;
  // Across file systems the loop copies the file instead; a file already gone is lost to us.
  if (errno != EXDEV)
    write_log(LogLevel::kWarning, "could not capture " + path + " at once: " +
                                       errno_error("link", errno).describe());
  return "";
}

void Watcher::report(Report r) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    reports_.push_back(std::move(r));
  }
  signal_fd(notify_fd_);
}

void Watcher::deliver() {
  uint64_t count = 0;
  ssize_t n = ::read(notify_fd_, &count, sizeof(count));
  (void)n;  // the count does not matter: the queue says what is there
  std::vector<Report> reports;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    reports.swap(reports_);
  }
  for (const auto& r : reports) {
    if (r.lost) on_lost_();
    else on_file_(r.found);
  }
}

}  // namespace shoal
