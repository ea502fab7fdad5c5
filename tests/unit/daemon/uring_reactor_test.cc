#include "daemon/uring_reactor.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace shoal {
namespace {

using std::chrono::milliseconds;

// A pipe closed at the end of the test; both ends non-blocking so edge-triggered readers can
// drain until EAGAIN.
struct Pipe {
  int r = -1;
  int w = -1;
  Pipe() {
    int p[2];
    if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0) {
      r = p[0];
      w = p[1];
    }
  }
  ~Pipe() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  bool ok() const { return r >= 0; }
  void put(const char* s) const { ASSERT_EQ(::write(w, s, strlen(s)), ssize_t(strlen(s))); }
};

int drain(int fd) {
  char buf[256];
  int total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return total;
    total += static_cast<int>(n);
  }
}

// Runs rounds until done() holds, but only so many: a lost wake-up fails the test instead of
// hanging it.
bool run_rounds(UringReactor& loop, const std::function<bool()>& done) {
  for (int i = 0; i < 200 && !done(); ++i) loop.run_once(milliseconds(50));
  return done();
}

std::string PollModeName(const ::testing::TestParamInfo<UringReactor::PollMode>& mode) {
  return mode.param == UringReactor::PollMode::kAuto ? "Auto" : "OneShot";
}

class UringReactorTest : public ::testing::TestWithParam<UringReactor::PollMode> {
 protected:
  std::unique_ptr<UringReactor> make(unsigned entries = 256) {
    auto r = UringReactor::create({entries, GetParam()});
    if (!r.ok()) {
      ADD_FAILURE() << "io_uring unavailable: " << r.error().describe();
      return nullptr;
    }
    return std::move(r).value();
  }
};

TEST_P(UringReactorTest, DetectsMultishotOnThisKernelUnlessForcedOff) {
  auto loop = make();
  ASSERT_TRUE(loop);
  // The host (6.18) and the QEMU guest (6.12) both support multishot polls.
  EXPECT_EQ(loop->multishot_poll(), GetParam() == UringReactor::PollMode::kAuto);
}

TEST_P(UringReactorTest, TimersFireInDueOrderAndCancelledOnesNever) {
  auto loop = make();
  ASSERT_TRUE(loop);
  std::vector<int> order;
  loop->add_timer(milliseconds(20), [&] { order.push_back(2); });
  loop->add_timer(milliseconds(1), [&] { order.push_back(1); });
  auto cancelled = loop->add_timer(milliseconds(5), [&] { order.push_back(99); });
  loop->cancel_timer(cancelled);
  EXPECT_TRUE(loop->run_until([&] { return order.size() == 2; }));
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_FALSE(loop->run_once(milliseconds(0)));  // idle now
  EXPECT_FALSE(loop->run_until([] { return false; }));
}

TEST_P(UringReactorTest, CancellingAFiredTimerIsANoOpAndSparesTheOthers) {
  auto loop = make();
  ASSERT_TRUE(loop);
  int fired = 0;
  Reactor::TimerId first = loop->add_timer(milliseconds(0), [&] { ++fired; });
  ASSERT_TRUE(loop->run_until([&] { return fired == 1; }));
  loop->add_timer(milliseconds(2), [&] { ++fired; });
  loop->cancel_timer(first);
  loop->cancel_timer(first);
  loop->cancel_timer(12345);  // never existed
  EXPECT_TRUE(loop->run_until([&] { return fired == 2; }));
}

TEST_P(UringReactorTest, TimerCancelledByAnEarlierTimerInTheSameRoundNeverFires) {
  auto loop = make();
  ASSERT_TRUE(loop);
  bool victim_fired = false;
  Reactor::TimerId victim = 0;
  loop->add_timer(milliseconds(1), [&] { loop->cancel_timer(victim); });
  victim = loop->add_timer(milliseconds(1), [&] { victim_fired = true; });
  bool later = false;
  loop->add_timer(milliseconds(10), [&] { later = true; });
  EXPECT_TRUE(loop->run_until([&] { return later; }));
  EXPECT_FALSE(victim_fired);
}

// A timer never fires before one added earlier with a shorter or equal delay (its due time is
// then no later), whatever the clock did while the 10k timers were being added.
TEST_P(UringReactorTest, TenThousandTimersFireInDueOrder) {
  auto loop = make();
  ASSERT_TRUE(loop);
  constexpr int kTimers = 10000;
  constexpr int kDelays = 40;
  std::mt19937 rng(42);
  std::vector<int> delay(kTimers);
  std::vector<std::vector<int>> by_delay(kDelays);  // timer indices per delay, in add order
  std::vector<int> fired;
  fired.reserve(kTimers);
  for (int i = 0; i < kTimers; ++i) {
    delay[i] = static_cast<int>(rng() % kDelays);
    by_delay[delay[i]].push_back(i);
    loop->add_timer(milliseconds(delay[i]), [&fired, i] { fired.push_back(i); });
  }
  ASSERT_TRUE(loop->run_until([&] { return int(fired.size()) == kTimers; }));
  std::vector<int> fired_per_delay(kDelays, 0);
  for (int j : fired) {
    for (int d = 0; d <= delay[j]; ++d) {
      auto& ids = by_delay[d];
      auto added_before = std::lower_bound(ids.begin(), ids.end(), j) - ids.begin();
      ASSERT_GE(fired_per_delay[d], added_before) << "timer " << j << " overtook delay " << d;
    }
    ++fired_per_delay[delay[j]];
  }
}

TEST_P(UringReactorTest, PostedWorkRunsLaterNotInline) {
  auto loop = make();
  ASSERT_TRUE(loop);
  std::vector<int> order;
  loop->post([&] {
    order.push_back(1);
    loop->post([&] { order.push_back(3); });  // next round, not this one
  });
  loop->post([&] { order.push_back(2); });
  EXPECT_TRUE(order.empty());
  ASSERT_TRUE(loop->run_once(milliseconds(0)));
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  ASSERT_TRUE(loop->run_once(milliseconds(0)));
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST_P(UringReactorTest, ReadableFdFiresWhileBytesRemainUntilUnwatched) {
  auto loop = make();
  ASSERT_TRUE(loop);
  Pipe p;
  ASSERT_TRUE(p.ok());
  int fired = 0;
  loop->watch(p.r, Reactor::kReadable, [&](uint32_t ev) {
    EXPECT_TRUE(ev & Reactor::kReadable);
    char c;
    ASSERT_EQ(::read(p.r, &c, 1), 1);  // one byte per call: level-triggered must fire again
    if (++fired == 3) loop->unwatch(p.r);
  });
  p.put("abc");
  EXPECT_TRUE(run_rounds(*loop, [&] { return fired == 3; }));
  EXPECT_FALSE(loop->run_once(milliseconds(0)));
}

TEST_P(UringReactorTest, EdgeWatchFiresOncePerArrival) {
  auto loop = make();
  ASSERT_TRUE(loop);
  Pipe p;
  ASSERT_TRUE(p.ok());
  int fired = 0;
  int bytes = 0;
  loop->watch_edge(p.r, Reactor::kReadable, [&](uint32_t) {
    ++fired;
    bytes += drain(p.r);
  });
  p.put("ab");
  ASSERT_TRUE(run_rounds(*loop, [&] { return bytes == 2; }));
  p.put("cd");
  ASSERT_TRUE(run_rounds(*loop, [&] { return bytes == 4; }));
  EXPECT_EQ(fired, 2);
  loop->unwatch(p.r);
  EXPECT_FALSE(loop->run_once(milliseconds(0)));
}

TEST_P(UringReactorTest, WritableAndReplacedInterest) {
  auto loop = make();
  ASSERT_TRUE(loop);
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  bool readable = false;
  bool writable = false;
  loop->watch(sv[0], Reactor::kReadable, [&](uint32_t) { readable = true; });
  // Nothing to read; the replacement asks for writability, which holds at once.
  loop->watch(sv[0], Reactor::kWritable, [&](uint32_t ev) {
    writable = ev & Reactor::kWritable;
    loop->unwatch(sv[0]);
  });
  EXPECT_TRUE(run_rounds(*loop, [&] { return writable; }));
  EXPECT_FALSE(readable);
  ::close(sv[0]);
  ::close(sv[1]);
}

TEST_P(UringReactorTest, RewatchInsideCallbackSwapsTheCallback) {
  auto loop = make();
  ASSERT_TRUE(loop);
  Pipe p;
  ASSERT_TRUE(p.ok());
  int first = 0;
  int second = 0;
  loop->watch(p.r, Reactor::kReadable, [&](uint32_t) {
    ++first;
    char c;
    ASSERT_EQ(::read(p.r, &c, 1), 1);
    loop->unwatch(p.r);  // drop and re-add: the old poll's completions must not leak through
    loop->watch(p.r, Reactor::kReadable, [&](uint32_t) {
      ++second;
      char d;
      ASSERT_EQ(::read(p.r, &d, 1), 1);
      if (second == 2) loop->unwatch(p.r);
    });
  });
  p.put("xyz");
  EXPECT_TRUE(run_rounds(*loop, [&] { return second == 2; }));
  EXPECT_EQ(first, 1);
  EXPECT_FALSE(loop->run_once(milliseconds(0)));
}

TEST_P(UringReactorTest, RewatchWithOtherEventsInsideCallback) {
  auto loop = make();
  ASSERT_TRUE(loop);
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  std::vector<uint32_t> seen;
  loop->watch(sv[0], Reactor::kReadable, [&](uint32_t ev) {
    seen.push_back(ev);
    drain(sv[0]);
    loop->watch(sv[0], Reactor::kWritable, [&](uint32_t ev2) {
      seen.push_back(ev2);
      loop->unwatch(sv[0]);
    });
  });
  ASSERT_EQ(::write(sv[1], "q", 1), 1);
  EXPECT_TRUE(run_rounds(*loop, [&] { return seen.size() == 2; }));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[0] & Reactor::kReadable);
  EXPECT_TRUE(seen[1] & Reactor::kWritable);
  ::close(sv[0]);
  ::close(sv[1]);
}

// Two fds ready in the same round, each callback unwatching the other: whichever runs first
// makes the other's completion stale, and a stale completion must not reach a callback.
TEST_P(UringReactorTest, CompletionForARemovedWatchIsDropped) {
  auto loop = make();
  ASSERT_TRUE(loop);
  Pipe a;
  Pipe b;
  ASSERT_TRUE(a.ok() && b.ok());
  int calls = 0;
  loop->watch(a.r, Reactor::kReadable, [&](uint32_t) {
    ++calls;
    loop->unwatch(a.r);
    loop->unwatch(b.r);
  });
  loop->watch(b.r, Reactor::kReadable, [&](uint32_t) {
    ++calls;
    loop->unwatch(a.r);
    loop->unwatch(b.r);
  });
  ASSERT_TRUE(loop->run_once(milliseconds(0)));  // both polls armed, nothing ready yet
  a.put("1");
  b.put("2");
  for (int i = 0; i < 20 && loop->run_once(milliseconds(50)); ++i) {
  }
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(loop->run_once(milliseconds(0)));  // both watches gone
}

TEST_P(UringReactorTest, ManyFdsThroughASmallRing) {
  auto loop = make(8);  // far fewer SQEs than watches: exercises submit-and-retry and backlog
  ASSERT_TRUE(loop);
  constexpr int kPipes = 300;
  std::vector<std::unique_ptr<Pipe>> pipes;
  int fired = 0;
  for (int i = 0; i < kPipes; ++i) {
    pipes.push_back(std::make_unique<Pipe>());
    ASSERT_TRUE(pipes.back()->ok());
    int fd = pipes.back()->r;
    loop->watch(fd, Reactor::kReadable, [&, fd](uint32_t) {
      EXPECT_EQ(drain(fd), 1);
      ++fired;
      loop->unwatch(fd);
    });
  }
  for (auto& p : pipes) p->put("z");
  EXPECT_TRUE(run_rounds(*loop, [&] { return fired == kPipes; }));
  EXPECT_FALSE(loop->run_once(milliseconds(0)));
}

TEST_P(UringReactorTest, BadFdReportsErrorOnceWithoutSpinning) {
  auto loop = make();
  ASSERT_TRUE(loop);
  int fd;
  {
    Pipe p;
    ASSERT_TRUE(p.ok());
    fd = p.r;
  }  // closed: the fd number is now invalid
  int errors = 0;
  loop->watch(fd, Reactor::kReadable, [&](uint32_t ev) {
    EXPECT_TRUE(ev & Reactor::kError);
    ++errors;
  });
  for (int i = 0; i < 5; ++i) loop->run_once(milliseconds(10));
  EXPECT_EQ(errors, 1);
  loop->unwatch(fd);
  EXPECT_FALSE(loop->run_once(milliseconds(0)));
}

TEST_P(UringReactorTest, CrossThreadPostWakesABlockedLoop) {
  auto loop = make();
  ASSERT_TRUE(loop);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<std::vector<int>> seen(kThreads);
  int total = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        loop->post([&, t, i] {
          seen[t].push_back(i);
          if (++total == kThreads * kPerThread) loop->stop();
        });
      }
    });
  }
  // A lost wake-up would leave the loop asleep until this guard fires.
  bool timed_out = false;
  auto guard = loop->add_timer(std::chrono::seconds(30), [&] {
    timed_out = true;
    loop->stop();
  });
  loop->run();
  for (auto& th : threads) th.join();
  loop->cancel_timer(guard);
  EXPECT_FALSE(timed_out);
  EXPECT_EQ(total, kThreads * kPerThread);
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(seen[t].size(), size_t(kPerThread));
    EXPECT_TRUE(std::is_sorted(seen[t].begin(), seen[t].end())) << "thread " << t;
  }
}

TEST_P(UringReactorTest, StopFromAnotherThreadEndsRun) {
  auto loop = make();
  ASSERT_TRUE(loop);
  std::atomic<bool> started{false};
  loop->post([&] { started = true; });
  std::thread stopper([&] {
    while (!started) std::this_thread::yield();
    loop->stop();
  });
  bool timed_out = false;
  auto guard = loop->add_timer(std::chrono::seconds(30), [&] {
    timed_out = true;
    loop->stop();
  });
  loop->run();
  stopper.join();
  loop->cancel_timer(guard);
  EXPECT_TRUE(started);
  EXPECT_FALSE(timed_out);
}

TEST_P(UringReactorTest, SubmittedOperationsComplete) {
  auto loop = make(8);
  ASSERT_TRUE(loop);
  constexpr int kNops = 1000;  // more than the ring holds at once
  int done = 0;
  for (int i = 0; i < kNops; ++i) {
    loop->submit([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); },
                 [&](int res, uint32_t) {
                   EXPECT_EQ(res, 0);
                   ++done;
                 });
  }
  EXPECT_TRUE(run_rounds(*loop, [&] { return done == kNops; }));

  Pipe p;
  ASSERT_TRUE(p.ok());
  char buf[8] = {};
  int got = -1;
  loop->submit([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, p.r, buf, sizeof buf, 0); },
               [&](int res, uint32_t) { got = res; });
  p.put("hey");
  EXPECT_TRUE(run_rounds(*loop, [&] { return got >= 0; }));
  EXPECT_EQ(got, 3);
  EXPECT_EQ(std::string(buf, 3), "hey");
  EXPECT_FALSE(loop->run_once(milliseconds(0)));
}

TEST_P(UringReactorTest, CancelledOperationStillCompletes) {
  auto loop = make();
  ASSERT_TRUE(loop);
  Pipe p;
  ASSERT_TRUE(p.ok());
  char buf[8];
  int res = 1;
  auto id = loop->submit(
      [&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, p.r, buf, sizeof buf, 0); },
      [&](int r, uint32_t) { res = r; });
  ASSERT_TRUE(loop->run_once(milliseconds(0)));  // in flight, nothing to read
  EXPECT_EQ(res, 1);
  loop->cancel(id);
  EXPECT_TRUE(run_rounds(*loop, [&] { return res != 1; }));
  EXPECT_EQ(res, -ECANCELED);
  loop->cancel(id);  // finished: no-op
  EXPECT_FALSE(loop->run_once(milliseconds(0)));
}

TEST_P(UringReactorTest, DestroyingWithOperationsInFlightCancelsThem) {
  Pipe p;
  ASSERT_TRUE(p.ok());
  auto buf = std::make_unique<char[]>(64);
  bool called = false;
  {
    auto loop = make();
    ASSERT_TRUE(loop);
    loop->submit([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, p.r, buf.get(), 64, 0); },
                 [&](int, uint32_t) { called = true; });
    ASSERT_TRUE(loop->run_once(milliseconds(0)));
  }
  buf.reset();  // the kernel let go of it when the reactor was destroyed
  p.put("late");
  EXPECT_FALSE(called);
}

INSTANTIATE_TEST_SUITE_P(PollModes, UringReactorTest,
                         ::testing::Values(UringReactor::PollMode::kAuto,
                                           UringReactor::PollMode::kOneShot),
                         PollModeName);

}  // namespace
}  // namespace shoal
