// A Reactor over poll(2) for tools and tests: a handful of sockets, no io_uring needed.
#pragma once

#include <deque>
#include <map>
#include <unordered_map>

#include "common/reactor.h"

namespace shoal {

class PollReactor final : public Reactor {
 public:
  void watch(int fd, uint32_t events, FdCallback cb) override;
  void unwatch(int fd) override;
  TimerId add_timer(std::chrono::milliseconds delay, std::function<void()> cb) override;
  void cancel_timer(TimerId id) override;
  void post(std::function<void()> fn) override;

  // Waits at most max_wait for a ready fd, a due timer or posted work, and dispatches it.
  // Returns false if nothing at all is registered (the loop would wait forever).
  bool run_once(std::chrono::milliseconds max_wait);
  // Runs rounds until done() holds. Returns false if the loop went idle first.
  bool run_until(const std::function<bool()>& done);

 private:
  struct Watch {
    uint32_t events;
    FdCallback cb;
  };
  struct Timer {
    Clock::time_point due;
    std::function<void()> cb;
  };
  void run_posted();
  void run_due_timers();

  std::unordered_map<int, Watch> watches_;
  std::map<TimerId, Timer> timers_;
  std::deque<std::function<void()>> posted_;
  TimerId next_timer_ = 1;
};

}  // namespace shoal
