// Recursive inotify watches. A file is reported when it is closed after writing
// (IN_CLOSE_WRITE) or moved in (IN_MOVED_TO). New subdirectories get watches of their own, and
// the files already inside them (written before the watch existed) are reported as found by a
// scan. When the kernel drops events (queue overflow) or a directory moves, the watches are
// rebuilt and the owner is asked to rescan.
//
// The events are read on a thread of the watcher's own, which hard-links each closed file into
// a landing directory the moment its event arrives: a job that deletes a checkpoint right
// after closing it (max_to_keep) races only this link, not the writer's busy loop. The rest
// (spooling, journaling) happens on the loop, which receives the reports in order.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/reactor.h"
#include "common/result.h"

namespace shoal {

class Watcher {
 public:
  struct Found {
    std::string root;    // the configured directory the file lies under
    std::string path;
    std::string landed;  // the landing link, when taken from an event ("" for scans)
  };
  using OnFile = std::function<void(const Found&)>;
  using OnLost = std::function<void()>;  // events were lost: rescan every root
  // Called on the watcher's thread: must only read immutable state.
  using Ignored = std::function<bool(const std::string& root, const std::string& path)>;

  // Landing links go to `landing_dir`, which must be on the watched file system for the links
  // to work (the spool); an event whose link fails is reported without one.
  static Result<std::unique_ptr<Watcher>> start(Reactor& reactor, std::vector<std::string> roots,
                                                std::string landing_dir, Ignored ignored,
                                                OnFile on_file, OnLost on_lost);
  ~Watcher();  // stops the thread; reports not yet delivered are dropped with their links
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

 private:
  struct Dir {
    std::string root;
    std::string path;
  };
  struct Report {
    bool lost = false;
    Found found;
  };
  Watcher(Reactor& reactor, std::vector<std::string> roots, std::string landing_dir,
          Ignored ignored, OnFile on_file, OnLost on_lost);
  Status add_tree(const std::string& root, const std::string& dir, bool report_files);
  Status add_dir(const std::string& root, const std::string& dir);
  void rebuild();
  void thread_main();
  void read_events();
  void handle(uint32_t mask, int wd, const std::string& name);
  std::string land(const std::string& path);
  void report(Report r);
  void deliver();

  Reactor& reactor_;
  std::vector<std::string> roots_;
  std::string landing_dir_;
  Ignored ignored_;
  OnFile on_file_;
  OnLost on_lost_;
  int inotify_fd_ = -1;
  int stop_fd_ = -1;    // tells the thread to leave
  int notify_fd_ = -1;  // tells the loop that reports are queued
  uint64_t landed_ = 0;
  std::map<int, Dir> dirs_;  // by watch descriptor; the thread's own after start
  std::mutex mutex_;
  std::vector<Report> reports_;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace shoal
