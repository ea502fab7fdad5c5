#include "common/poll_reactor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

namespace shoal {
namespace {

TEST(PollReactor, TimersFireInDueOrderAndCancelledOnesNever) {
  PollReactor loop;
  std::vector<int> order;
  loop.add_timer(std::chrono::milliseconds(20), [&] { order.push_back(2); });
  loop.add_timer(std::chrono::milliseconds(1), [&] { order.push_back(1); });
  auto cancelled = loop.add_timer(std::chrono::milliseconds(5), [&] { order.push_back(99); });
  loop.cancel_timer(cancelled);
  EXPECT_TRUE(loop.run_until([&] { return order.size() == 2; }));
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_FALSE(loop.run_once(std::chrono::milliseconds(0)));  // idle now
}

TEST(PollReactor, PostedWorkRunsLaterNotInline) {
  PollReactor loop;
  bool ran = false;
  loop.post([&] { ran = true; });
  EXPECT_FALSE(ran);
  loop.run_once(std::chrono::milliseconds(0));
  EXPECT_TRUE(ran);
}

TEST(PollReactor, ReadableFdFiresUntilUnwatched) {
  PollReactor loop;
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  int fired = 0;
  loop.watch(p[0], Reactor::kReadable, [&](uint32_t ev) {
    EXPECT_TRUE(ev & Reactor::kReadable);
    char c;
    ASSERT_EQ(read(p[0], &c, 1), 1);
    if (++fired == 2) loop.unwatch(p[0]);
  });
  ASSERT_EQ(write(p[1], "ab", 2), 2);
  EXPECT_TRUE(loop.run_until([&] { return fired == 2; }));
  EXPECT_FALSE(loop.run_once(std::chrono::milliseconds(0)));
  close(p[0]);
  close(p[1]);
}

}  // namespace
}  // namespace shoal
