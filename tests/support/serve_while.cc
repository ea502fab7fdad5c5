#include "support/serve_while.h"

#include <chrono>
#include <future>
#include <thread>

namespace shoal::test {

void serve_while(PollReactor& loop, const std::function<void()>& script) {
  auto done = std::async(std::launch::async, script);
  while (done.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    if (!loop.run_once(std::chrono::milliseconds(5)))
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  done.get();
}

}  // namespace shoal::test
