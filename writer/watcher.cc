#include "writer/watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "writer/log.h"

namespace shoal {
namespace {

constexpr uint32_t kDirMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                              IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

}  // namespace

Result<std::unique_ptr<Watcher>> Watcher::start(Reactor& reactor, std::vector<std::string> roots,
                                                OnFile on_file, OnLost on_lost) {
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return errno_error("inotify_init1", errno);
  std::unique_ptr<Watcher> w(
      new Watcher(reactor, fd, std::move(roots), std::move(on_file), std::move(on_lost)));
  for (const auto& root : w->roots_) {
    std::error_code ec;
    std::filesystem::create_directories(root, ec);
    if (ec) return Error(ErrorKind::kIo, "create watched directory " + root + ": " + ec.message());
    SHOAL_TRY(w->add_tree(root, root, false));
  }
  return w;
}

Watcher::Watcher(Reactor& reactor, int fd, std::vector<std::string> roots, OnFile on_file,
                 OnLost on_lost)
    : reactor_(reactor), fd_(fd), roots_(std::move(roots)), on_file_(std::move(on_file)),
      on_lost_(std::move(on_lost)) {
  reactor_.watch(fd_, Reactor::kReadable, [this](uint32_t) { on_readable(); });
}

Watcher::~Watcher() {
  reactor_.unwatch(fd_);
  ::close(fd_);
}

Status Watcher::add_dir(const std::string& root, const std::string& dir) {
  int wd = ::inotify_add_watch(fd_, dir.c_str(), kDirMask);
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
      on_file_(Found{root, entry.path().string(), false});
    }
  }
  return {};
}

void Watcher::rebuild() {
  for (const auto& [wd, dir] : dirs_) ::inotify_rm_watch(fd_, wd);
  dirs_.clear();
  for (const auto& root : roots_) {
    Status s = add_tree(root, root, false);
    if (!s.ok()) writer_log(LogLevel::kError, s.error().describe());
  }
  on_lost_();
}

void Watcher::on_readable() {
  alignas(inotify_event) char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof(buf));
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
    writer_log(LogLevel::kWarning, "inotify queue overflowed; rescanning the watched directories");
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
      if (!s.ok()) writer_log(LogLevel::kError, s.error().describe());
    }
    return;
  }
  if (mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) on_file_(Found{dir.root, path, true});
}

}  // namespace shoal
