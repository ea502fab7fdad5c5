// Recursive inotify watches on the writer's loop. A file is reported when it is closed after
// writing (IN_CLOSE_WRITE) or moved in (IN_MOVED_TO). New subdirectories get watches of their
// own, and the files already inside them (written before the watch existed) are reported as
// found by a scan. When the kernel drops events (queue overflow) or a directory moves, the
// watches are rebuilt and the owner is asked to rescan.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/reactor.h"
#include "common/result.h"

namespace shoal {

class Watcher {
 public:
  struct Found {
    std::string root;  // the configured directory the file lies under
    std::string path;
    bool closed_event;  // true: IN_CLOSE_WRITE / IN_MOVED_TO; false: found by a scan
  };
  using OnFile = std::function<void(const Found&)>;
  using OnLost = std::function<void()>;  // events were lost: rescan every root

  static Result<std::unique_ptr<Watcher>> start(Reactor& reactor, std::vector<std::string> roots,
                                                OnFile on_file, OnLost on_lost);
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

 private:
  struct Dir {
    std::string root;
    std::string path;
  };
  Watcher(Reactor& reactor, int fd, std::vector<std::string> roots, OnFile on_file,
          OnLost on_lost);
  Status add_tree(const std::string& root, const std::string& dir, bool report_files);
  Status add_dir(const std::string& root, const std::string& dir);
  void rebuild();
  void on_readable();
  void handle(uint32_t mask, int wd, const std::string& name);

  Reactor& reactor_;
  int fd_;
  std::vector<std::string> roots_;
  OnFile on_file_;
  OnLost on_lost_;
  std::map<int, Dir> dirs_;  // by watch descriptor
};

}  // namespace shoal
