#include "common/blocking_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "common/poll_reactor.h"

namespace shoal {
namespace {

std::unique_ptr<BlockingPool> make_pool(Reactor& loop, int threads) {
  auto pool = BlockingPool::create(loop, threads);
  EXPECT_TRUE(pool.ok()) << pool.error().describe();
  return pool.ok() ? std::move(*pool) : nullptr;
}

TEST(BlockingPool, WorkRunsOnAWorkerAndItsCompletionOnTheLoop) {
  PollReactor loop;
  auto pool = make_pool(loop, 2);
  ASSERT_NE(pool, nullptr);
  std::thread::id worker;
  std::thread::id completed_on;
  int result = 0;
  pool->run<int>(
      [&] {
        worker = std::this_thread::get_id();
        return 42;
      },
      [&](int value) {
        completed_on = std::this_thread::get_id();
        result = value;
      });
  EXPECT_EQ(result, 0) << "a completion never runs inline";
  ASSERT_TRUE(loop.run_until([&] { return result != 0; }));
  EXPECT_EQ(result, 42);
  EXPECT_NE(worker, std::this_thread::get_id());
  EXPECT_EQ(completed_on, std::this_thread::get_id());
}

TEST(BlockingPool, EveryJobCompletesOnceWhileTheLoopKeepsRunning) {
  PollReactor loop;
  auto pool = make_pool(loop, 4);
  ASSERT_NE(pool, nullptr);
  constexpr int kJobs = 500;
  std::atomic<int> worked{0};
  std::vector<int> completions(kJobs, 0);
  int timer_rounds = 0;
  std::function<void()> tick = [&] {
    ++timer_rounds;
    loop.add_timer(std::chrono::milliseconds(1), tick);
  };
  tick();
  for (int i = 0; i < kJobs; ++i) {
    pool->run<int>(
        [&worked, i] {
          ++worked;
          if (i % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
          return i;
        },
        [&completions](int job) { ++completions[static_cast<size_t>(job)]; });
  }
  int done = 0;
  ASSERT_TRUE(loop.run_until([&] {
    done = 0;
    for (int c : completions) done += c;
    return done == kJobs;
  }));
  EXPECT_EQ(worked.load(), kJobs);
  for (int i = 0; i < kJobs; ++i) EXPECT_EQ(completions[static_cast<size_t>(i)], 1) << "job " << i;
  EXPECT_GT(timer_rounds, 1) << "the loop served its timer while the work ran";
}

TEST(BlockingPool, DestroyingItWaitsForRunningWorkAndDropsItsCompletion) {
  PollReactor loop;
  auto pool = make_pool(loop, 1);
  ASSERT_NE(pool, nullptr);
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  bool completed = false;
  pool->run<int>(
      [&] {
        started = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        finished = true;
        return 1;
      },
      [&](int) { completed = true; });
  pool->run<int>([] { return 2; }, [&](int) { completed = true; });  // still queued: dropped
  while (!started) std::this_thread::yield();
  pool.reset();
  EXPECT_TRUE(finished) << "the destructor joined the worker";
  loop.run_once(std::chrono::milliseconds(10));
  EXPECT_FALSE(completed);
}

}  // namespace
}  // namespace shoal
