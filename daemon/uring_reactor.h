// The daemon's event loop: a Reactor over one io_uring, one per worker thread. Sockets (libcurl's,
// the frontends'), timers, cross-thread wake-ups and any other io_uring operation (file reads,
// ublk commands) all complete on the same ring, so a worker blocks in exactly one place.
//
// Readiness. watch() keeps the Reactor contract (level-triggered: the callback runs while the
// fd is ready) with one-shot IORING_OP_POLL_ADD requests re-armed after each callback; io_uring
// checks readiness when a poll is armed, so an fd left readable fires again at once, and the
// re-arm rides in the same io_uring_enter as the wait (no extra syscall). A multishot poll
// cannot give that contract: it posts one completion per wake-up of the fd's wait queue, so a
// reader that leaves bytes behind would never hear of them again. watch_edge() offers
// multishot polls to callers that drain their fd until EAGAIN each time; on kernels without
// multishot polls (detected at start) it falls back to re-armed one-shot polls, which only adds
// callbacks such a caller tolerates.
//
// Threading: everything except post() and stop() must be called on the thread running the loop
// (callbacks included). post() and stop() may be called from any thread while the reactor is
// alive; they wake a blocked loop through an eventfd watched by the ring. The reactor must not
// be destroyed while another thread may still call post() or stop().
#pragma once

#include <liburing.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/reactor.h"
#include "common/result.h"

namespace shoal {

class UringReactor final : public Reactor {
 public:
  enum class PollMode {
    kAuto,     // multishot polls for watch_edge() when the running kernel supports them
    kOneShot,  // always re-armed one-shot polls (what older kernels get; also for tests)
  };
  struct Options {
    unsigned entries = 256;  // submission queue size; the completion queue is 4x larger
    PollMode poll_mode = PollMode::kAuto;
  };

  using OpId = uint64_t;
  // Fills an SQE for submit(). The reactor owns user_data (it overwrites it afterwards); one
  // SQE per submit, no IOSQE_IO_LINK chains (a full ring may delay an SQE to a later batch).
  using Prep = std::function<void(io_uring_sqe*)>;
  // res and flags of each CQE. A multishot operation's callback stays registered while the
  // CQE carries IORING_CQE_F_MORE.
  using Completion = std::function<void(int res, uint32_t cqe_flags)>;

  // Fails when io_uring is unavailable (old kernel, kernel.io_uring_disabled, a seccomp policy).
  static Result<std::unique_ptr<UringReactor>> create(Options options);
  static Result<std::unique_ptr<UringReactor>> create() { return create(Options{}); }
  // Cancels operations still in flight and waits for the kernel to let go of them (their
  // callbacks do not run), so buffers they point to may be freed right after.
  ~UringReactor() override;
  UringReactor(const UringReactor&) = delete;
  UringReactor& operator=(const UringReactor&) = delete;

  // Level-triggered, as Reactor says. Watching an fd again with the same events only swaps
  // the callback; other events replace the armed poll. Unwatch before closing the fd: the
  // ring holds its own reference to the file while a poll is armed.
  void watch(int fd, uint32_t events, FdCallback cb) override;
  // Edge-triggered: cb runs when the fd becomes ready; it must read or write until EAGAIN.
  void watch_edge(int fd, uint32_t events, FdCallback cb);
  void unwatch(int fd) override;
  TimerId add_timer(std::chrono::milliseconds delay, std::function<void()> cb) override;
  void cancel_timer(TimerId id) override;
  // Any thread. Runs fn on the loop thread in a later round, in posting order.
  void post(std::function<void()> fn) override;

  // Queues one SQE built by prep; done runs on the loop with each of its completions. When
  // the ring is full the reactor submits what it holds and retries, then keeps the SQE in a
  // backlog flushed at the next round.
  OpId submit(Prep prep, Completion done);
  // Asks the kernel to cancel an operation; its callback still runs (typically -ECANCELED),
  // so whoever owns the buffers learns when they are free. Unknown or finished ids: no-op.
  void cancel(OpId id);

  // Waits at most max_wait for a completion, a due timer or posted work, and dispatches what
  // arrived. Returns false if nothing at all is registered (the loop would wait forever).
  bool run_once(std::chrono::milliseconds max_wait);
  // Runs rounds until done() holds or stop() is called. Returns done(); returns early if the
  // loop goes idle.
  bool run_until(const std::function<bool()>& done);
  // Runs until stop(), waiting for posted work even while nothing else is registered.
  void run();
  // Any thread. Makes the current (or next) run()/run_until() return after its round.
  void stop();

  bool multishot_poll() const { return multishot_; }

 private:
  struct Watch {
    uint32_t events = 0;
    bool edge = false;
    std::shared_ptr<FdCallback> cb;  // shared: dispatch keeps it alive if cb replaces itself
    uint64_t armed = 0;              // user_data of the poll in flight; 0 when none
  };
  struct Timer {
    Clock::time_point due;
    std::function<void()> cb;
  };
  struct PendingSqe {
    uint64_t user_data;
    Prep prep;
  };
  struct Cqe {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
  };

  explicit UringReactor(int wake_fd) : wake_fd_(wake_fd) {}
  Status init_ring(unsigned entries);
  Status detect_multishot();

  uint64_t next_user_data(uint64_t tag);
  void enqueue(uint64_t user_data, Prep prep);
  void flush_backlog();
  void arm(int fd, Watch& w);
  void disarm(Watch& w);
  void arm_wake();
  void wake();
  void watch_with(int fd, uint32_t events, bool edge, FdCallback cb);

  bool idle();
  bool has_posted();
  void round(std::chrono::nanoseconds max_wait);
  std::chrono::nanoseconds wait_budget(std::chrono::nanoseconds max_wait);
  void wait_for_completions(std::chrono::nanoseconds timeout);
  void dispatch_completions();
  void on_wake(uint32_t flags);
  void on_poll(uint64_t user_data, int res, uint32_t flags);
  void on_op(uint64_t user_data, int res, uint32_t flags);
  void run_due_timers();
  void run_posted();
  void drain_ops_for_exit();

  io_uring ring_{};
  bool ring_ready_ = false;
  int wake_fd_;
  bool multishot_ = false;
  uint64_t next_seq_ = 1;

  std::unordered_map<int, Watch> watches_;
  std::unordered_map<uint64_t, int> polls_;  // armed poll user_data → fd; absent = stale CQE
  std::unordered_map<uint64_t, Completion> ops_;
  std::deque<PendingSqe> backlog_;
  std::vector<Cqe> batch_;

  std::map<TimerId, Timer> timers_;
  std::set<std::pair<Clock::time_point, TimerId>> timer_queue_;  // due order, ties by id
  TimerId next_timer_ = 1;

  std::mutex posted_mu_;
  std::vector<std::function<void()>> posted_;  // guarded by posted_mu_
  std::atomic<bool> stop_requested_{false};
};

}  // namespace shoal
