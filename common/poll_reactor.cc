#include "common/poll_reactor.h"

#include <poll.h>

#include <algorithm>
#include <vector>

namespace shoal {

void PollReactor::watch(int fd, uint32_t events, FdCallback cb) {
  watches_[fd] = Watch{events, std::move(cb)};
}

void PollReactor::unwatch(int fd) { watches_.erase(fd); }

Reactor::TimerId PollReactor::add_timer(std::chrono::milliseconds delay, std::function<void()> cb) {
  TimerId id = next_timer_++;
  timers_.emplace(id, Timer{Clock::now() + delay, std::move(cb)});
  return id;
}

void PollReactor::cancel_timer(TimerId id) { timers_.erase(id); }

void PollReactor::post(std::function<void()> fn) { posted_.push_back(std::move(fn)); }

void PollReactor::run_posted() {
  // Only what was posted before this round runs now, so a callback that re-posts itself
  // cannot starve the sockets.
  size_t n = posted_.size();
  for (size_t i = 0; i < n && !posted_.empty(); ++i) {
    auto fn = std::move(posted_.front());
    posted_.pop_front();
    fn();
  }
}

void PollReactor::run_due_timers() {
  auto now = Clock::now();
  std::vector<TimerId> due;
  for (auto& [id, t] : timers_)
    if (t.due <= now) due.push_back(id);
  for (TimerId id : due) {
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // cancelled by an earlier timer
    auto cb = std::move(it->second.cb);
    timers_.erase(it);
    cb();
  }
}

bool PollReactor::run_once(std::chrono::milliseconds max_wait) {
  if (watches_.empty() && timers_.empty() && posted_.empty()) return false;
  auto wait = max_wait;
  if (!posted_.empty()) wait = std::chrono::milliseconds(0);
  auto now = Clock::now();
  for (auto& [id, t] : timers_) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(t.due - now);
    wait = std::clamp(left, std::chrono::milliseconds(0), wait);
  }

  std::vector<pollfd> fds;
  fds.reserve(watches_.size());
  for (auto& [fd, w] : watches_) {
    short ev = 0;
    if (w.events & kReadable) ev |= POLLIN;
    if (w.events & kWritable) ev |= POLLOUT;
    fds.push_back(pollfd{fd, ev, 0});
  }
  int n = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
  if (n > 0) {
    for (const pollfd& p : fds) {
      if (p.revents == 0) continue;
      auto it = watches_.find(p.fd);
      if (it == watches_.end()) continue;  // unwatched by an earlier callback this round
      uint32_t fired = 0;
      if (p.revents & POLLIN) fired |= kReadable;
      if (p.revents & POLLOUT) fired |= kWritable;
      if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) fired |= kError;
      auto cb = it->second.cb;  // copy: the callback may replace its own watch
      cb(fired);
    }
  }
  run_due_timers();
  run_posted();
  return true;
}

bool PollReactor::run_until(const std::function<bool()>& done) {
  while (!done()) {
    if (!run_once(std::chrono::milliseconds(1000))) return done();
  }
  return true;
}

}  // namespace shoal
