#include "daemon/uring_reactor.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace shoal {
namespace {

// user_data = tag in the top byte, a sequence number below: every armed poll and every
// operation gets a value never used before, so a completion that arrives after its watch
// or operation is gone is recognised as stale and dropped.
constexpr uint64_t kTagShift = 56;
constexpr uint64_t kIgnoreTag = 0;  // our own removals and cancellations
constexpr uint64_t kWakeTag = 1;
constexpr uint64_t kPollTag = 2;
constexpr uint64_t kOpTag = 3;
constexpr uint64_t kWakeUserData = kWakeTag << kTagShift;

// Where run() and run_until() block when no timer is due sooner; stop() and post() cut it.
constexpr auto kLongWait = std::chrono::hours(1);

// The reactor whose loop the current thread is running, so post() from a callback skips the
// eventfd write: the loop looks at posted work before it waits.
thread_local const UringReactor* t_running = nullptr;

class RunningScope {
 public:
  explicit RunningScope(const UringReactor* r) : saved_(t_running) { t_running = r; }
  ~RunningScope() { t_running = saved_; }
  RunningScope(const RunningScope&) = delete;
  RunningScope& operator=(const RunningScope&) = delete;

 private:
  const UringReactor* saved_;
};

uint32_t poll_mask(uint32_t events) {
  uint32_t mask = 0;
  if (events & Reactor::kReadable) mask |= POLLIN;
  if (events & Reactor::kWritable) mask |= POLLOUT;
  return mask;
}

uint32_t fired_events(int res) {
  if (res < 0) return Reactor::kError;
  uint32_t fired = 0;
  auto revents = static_cast<uint32_t>(res);
  if (revents & POLLIN) fired |= Reactor::kReadable;
  if (revents & POLLOUT) fired |= Reactor::kWritable;
  if (revents & (POLLERR | POLLHUP | POLLNVAL)) fired |= Reactor::kError;
  return fired;
}

__kernel_timespec to_timespec(std::chrono::nanoseconds ns) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(ns);
  return __kernel_timespec{secs.count(), (ns - secs).count()};
}

}  // namespace

Result<std::unique_ptr<UringReactor>> UringReactor::create(Options options) {
  int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) return errno_error("eventfd for the io_uring reactor", errno);
  std::unique_ptr<UringReactor> r(new UringReactor(wake_fd));
  SHOAL_TRY(r->init_ring(options.entries));
  if (options.poll_mode == PollMode::kAuto) {
    SHOAL_TRY(r->detect_multishot());
  } else {
    r->arm_wake();
  }
  return r;
}

UringReactor::~UringReactor() {
  if (ring_ready_) {
    drain_ops_for_exit();
    io_uring_queue_exit(&ring_);
  }
  ::close(wake_fd_);
}

Status UringReactor::init_ring(unsigned entries) {
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
  params.cq_entries = entries * 4;
  int rc = io_uring_queue_init_params(entries, &ring_, &params);
  if (rc == -EINVAL) {  // a kernel older than 5.19 rejects the newer setup flags
    params = io_uring_params{};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = entries * 4;
    rc = io_uring_queue_init_params(entries, &ring_, &params);
  }
  if (rc < 0) {
    return errno_error("io_uring setup for the daemon's event loop (is io_uring disabled by "
                       "kernel.io_uring_disabled or a seccomp policy?)",
                       -rc);
  }
  ring_ready_ = true;
  return {};
}

// Arms a multishot poll on the wake eventfd, made readable beforehand: a kernel that supports
// multishot polls answers with IORING_CQE_F_MORE and keeps the poll armed; one that does not
// rejects the request, and the eventfd gets a one-shot poll instead.
Status UringReactor::detect_multishot() {
  wake();
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  io_uring_prep_poll_multishot(sqe, wake_fd_, POLLIN);
  io_uring_sqe_set_data64(sqe, kWakeUserData);
  io_uring_cqe* cqe = nullptr;
  int rc = io_uring_submit_and_wait(&ring_, 1);
  if (rc >= 0) rc = io_uring_peek_cqe(&ring_, &cqe);
  if (rc < 0) return errno_error("io_uring: probing multishot poll support", -rc);
  multishot_ = cqe->res > 0 && (cqe->flags & IORING_CQE_F_MORE);
  io_uring_cqe_seen(&ring_, cqe);
  uint64_t count;
  if (::read(wake_fd_, &count, sizeof count) < 0 && errno != EAGAIN) {
    return errno_error("io_uring reactor: reading its wake eventfd", errno);
  }
  if (!multishot_) arm_wake();
  return {};
}

uint64_t UringReactor::next_user_data(uint64_t tag) { return (tag << kTagShift) | next_seq_++; }

void UringReactor::enqueue(uint64_t user_data, Prep prep) {
  io_uring_sqe* sqe = nullptr;
  if (backlog_.empty()) {  // an SQE must not overtake older ones waiting in the backlog
    sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {  // ring full: hand the batch to the kernel and retry once
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
  }
  if (sqe == nullptr) {
    backlog_.push_back(PendingSqe{user_data, std::move(prep)});
    return;
  }
  prep(sqe);
  io_uring_sqe_set_data64(sqe, user_data);
}

void UringReactor::flush_backlog() {
  while (!backlog_.empty()) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
      if (sqe == nullptr) return;  // the kernel took nothing; retry next round
    }
    backlog_.front().prep(sqe);
    io_uring_sqe_set_data64(sqe, backlog_.front().user_data);
    backlog_.pop_front();
  }
}

void UringReactor::arm(int fd, Watch& w) {
  uint64_t user_data = next_user_data(kPollTag);
  uint32_t mask = poll_mask(w.events);
  bool multishot = w.edge && multishot_;
  enqueue(user_data, [fd, mask, multishot](io_uring_sqe* sqe) {
    if (multishot) {
      io_uring_prep_poll_multishot(sqe, fd, mask);
    } else {
      io_uring_prep_poll_add(sqe, fd, mask);
    }
  });
  polls_.emplace(user_data, fd);
  w.armed = user_data;
}

void UringReactor::disarm(Watch& w) {
  if (w.armed == 0) return;
  uint64_t target = w.armed;
  enqueue(kIgnoreTag, [target](io_uring_sqe* sqe) { io_uring_prep_poll_remove(sqe, target); });
  polls_.erase(target);  // whatever the old poll still posts is now stale
  w.armed = 0;
}

void UringReactor::arm_wake() {
  bool multishot = multishot_;
  int fd = wake_fd_;
  enqueue(kWakeUserData, [fd, multishot](io_uring_sqe* sqe) {
    if (multishot) {
      io_uring_prep_poll_multishot(sqe, fd, POLLIN);
    } else {
      io_uring_prep_poll_add(sqe, fd, POLLIN);
    }
  });
}

void UringReactor::wake() {
  uint64_t one = 1;
  // Only EAGAIN can fail here (the counter is saturated), and then a wake-up is pending anyway.
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void UringReactor::watch(int fd, uint32_t events, FdCallback cb) {
  watch_with(fd, events, false, std::move(cb));
}

void UringReactor::watch_edge(int fd, uint32_t events, FdCallback cb) {
  watch_with(fd, events, true, std::move(cb));
}

void UringReactor::watch_with(int fd, uint32_t events, bool edge, FdCallback cb) {
  Watch& w = watches_[fd];
  w.cb = std::make_shared<FdCallback>(std::move(cb));
  if (w.armed != 0 && w.events == events && w.edge == edge) return;  // same interest: keep it
  disarm(w);
  w.events = events;
  w.edge = edge;
  arm(fd, w);
}

void UringReactor::unwatch(int fd) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  disarm(it->second);
  watches_.erase(it);
}

Reactor::TimerId UringReactor::add_timer(std::chrono::milliseconds delay,
                                         std::function<void()> cb) {
  TimerId id = next_timer_++;
  auto due = Clock::now() + delay;
  timers_.emplace(id, Timer{due, std::move(cb)});
  timer_queue_.emplace(due, id);
  return id;
}

void UringReactor::cancel_timer(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  timer_queue_.erase({it->second.due, id});
  timers_.erase(it);
}

void UringReactor::post(std::function<void()> fn) {
  bool was_empty;
  {
    std::lock_guard lock(posted_mu_);
    was_empty = posted_.empty();
    posted_.push_back(std::move(fn));
  }
  // One eventfd write per batch of posts from other threads is enough: the loop takes the
  // whole queue at once, so the next post after that sees it empty and wakes it again.
  if (was_empty && t_running != this) wake();
}

UringReactor::OpId UringReactor::submit(Prep prep, Completion done) {
  OpId id = next_user_data(kOpTag);
  ops_.emplace(id, std::move(done));
  enqueue(id, std::move(prep));
  return id;
}

void UringReactor::cancel(OpId id) {
  if (ops_.count(id) == 0) return;
  enqueue(kIgnoreTag, [id](io_uring_sqe* sqe) { io_uring_prep_cancel64(sqe, id, 0); });
}

void UringReactor::stop() {
  stop_requested_.store(true);
  wake();
}

bool UringReactor::has_posted() {
  std::lock_guard lock(posted_mu_);
  return !posted_.empty();
}

bool UringReactor::idle() {
  return watches_.empty() && timers_.empty() && ops_.empty() && backlog_.empty() &&
         !has_posted();
}

bool UringReactor::run_once(std::chrono::milliseconds max_wait) {
  if (idle()) return false;
  round(max_wait);
  return true;
}

bool UringReactor::run_until(const std::function<bool()>& done) {
  while (!done()) {
    if (stop_requested_.exchange(false)) return done();
    if (!run_once(kLongWait)) return done();
  }
  return true;
}

void UringReactor::run() {
  while (!stop_requested_.exchange(false)) round(kLongWait);
}

void UringReactor::round(std::chrono::nanoseconds max_wait) {
  RunningScope running(this);
  flush_backlog();
  wait_for_completions(wait_budget(max_wait));
  dispatch_completions();
  run_due_timers();
  run_posted();
}

std::chrono::nanoseconds UringReactor::wait_budget(std::chrono::nanoseconds max_wait) {
  if (has_posted() || !backlog_.empty()) return std::chrono::nanoseconds(0);
  if (timer_queue_.empty()) return max_wait;
  auto left = timer_queue_.begin()->first - Clock::now();
  return std::clamp<std::chrono::nanoseconds>(left, std::chrono::nanoseconds(0), max_wait);
}

void UringReactor::wait_for_completions(std::chrono::nanoseconds timeout) {
  __kernel_timespec ts = to_timespec(timeout);
  io_uring_cqe* cqe = nullptr;
  // -ETIME (nothing arrived in time) and -EINTR (a signal) both just end the wait; -EBUSY
  // means the kernel holds completions we have not reaped yet, which dispatch does next.
  io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
}

void UringReactor::dispatch_completions() {
  // Copied out first so callbacks that submit or cancel never see a half-consumed CQ.
  batch_.clear();
  unsigned head;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    batch_.push_back(Cqe{cqe->user_data, cqe->res, cqe->flags});
  }
  io_uring_cq_advance(&ring_, static_cast<unsigned>(batch_.size()));
  std::vector<Cqe> batch;
  batch.swap(batch_);
  for (const Cqe& c : batch) {
    switch (c.user_data >> kTagShift) {
      case kWakeTag: on_wake(c.flags); break;
      case kPollTag: on_poll(c.user_data, c.res, c.flags); break;
      case kOpTag: on_op(c.user_data, c.res, c.flags); break;
      default: break;  // results of our own removals and cancellations
    }
  }
  batch.clear();
  batch_.swap(batch);  // keep the capacity for the next round
}

void UringReactor::on_wake(uint32_t flags) {
  uint64_t count;
  // Resets the counter; EAGAIN only means another wake-up already consumed it.
  [[maybe_unused]] ssize_t n = ::read(wake_fd_, &count, sizeof count);
  if (!(flags & IORING_CQE_F_MORE)) arm_wake();
}

void UringReactor::on_poll(uint64_t user_data, int res, uint32_t flags) {
  auto poll = polls_.find(user_data);
  if (poll == polls_.end()) return;  // its watch was removed or replaced meanwhile
  int fd = poll->second;
  Watch& w = watches_.at(fd);  // polls_ only holds the armed poll of a live watch
  if (!(flags & IORING_CQE_F_MORE)) {
    polls_.erase(poll);
    w.armed = 0;
  }
  std::shared_ptr<FdCallback> cb = w.cb;  // the callback may replace or remove its own watch
  (*cb)(fired_events(res));
  // A poll that ended with an error is not re-armed, so a dead fd cannot spin the loop; the
  // callback got kError and is expected to unwatch (or watch again to retry).
  auto still = watches_.find(fd);
  if (still != watches_.end() && still->second.armed == 0 && res >= 0) arm(fd, still->second);
}

void UringReactor::on_op(uint64_t user_data, int res, uint32_t flags) {
  auto it = ops_.find(user_data);
  if (it == ops_.end()) return;
  if (flags & IORING_CQE_F_MORE) {
    Completion cb = it->second;  // copy: the callback may cancel its own operation
    cb(res, flags);
    return;
  }
  Completion cb = std::move(it->second);
  ops_.erase(it);
  cb(res, flags);
}

void UringReactor::run_due_timers() {
  auto now = Clock::now();
  std::vector<TimerId> due;
  for (auto it = timer_queue_.begin(); it != timer_queue_.end() && it->first <= now; ++it) {
    due.push_back(it->second);
  }
  for (TimerId id : due) {
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // cancelled by an earlier timer
    auto cb = std::move(it->second.cb);
    timer_queue_.erase({it->second.due, id});
    timers_.erase(it);
    cb();
  }
}

void UringReactor::run_posted() {
  // Only what was posted before this round runs now, so work that re-posts itself cannot
  // starve the ring.
  std::vector<std::function<void()>> work;
  {
    std::lock_guard lock(posted_mu_);
    work.swap(posted_);
  }
  for (auto& fn : work) fn();
}

void UringReactor::drain_ops_for_exit() {
  for (auto& [id, cb] : ops_) {
    OpId target = id;
    enqueue(kIgnoreTag, [target](io_uring_sqe* sqe) { io_uring_prep_cancel64(sqe, target, 0); });
  }
  while (!ops_.empty()) {
    flush_backlog();
    int rc = io_uring_submit_and_wait(&ring_, 1);
    if (rc < 0 && rc != -EINTR && rc != -EBUSY) return;  // the ring is broken; exit frees it
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      if (!(cqe->flags & IORING_CQE_F_MORE)) ops_.erase(cqe->user_data);
      ++seen;
    }
    io_uring_cq_advance(&ring_, seen);
  }
}

}  // namespace shoal
