// Worker threads for the blocking calls an event loop must not wait on (fsync, copying a
// file, hashing a large body): the work runs on a worker, its completion on the loop, so the
// loop keeps serving sockets and timers meanwhile.
//
// Completions run on the loop (woken through an eventfd it watches), in the order the work
// finished, never inline. Destroying the pool waits for the work already running and drops
// the completions not yet delivered; destroy it before the reactor.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "common/reactor.h"
#include "common/result.h"

namespace shoal {

class BlockingPool {
 public:
  static Result<std::unique_ptr<BlockingPool>> create(Reactor& reactor, int threads);
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // Runs `work` on a worker, then `done(its result)` on the loop.
  template <typename T>
  void run(std::function<T()> work, std::function<void(T)> done) {
    auto result = std::make_shared<std::optional<T>>();
    submit([work = std::move(work), result] { result->emplace(work()); },
           [done = std::move(done), result] { done(std::move(**result)); });
  }

 private:
  BlockingPool(Reactor& reactor, int wake_fd, int threads);

  struct Job {
    std::function<void()> work;
    std::function<void()> done;
  };
  void submit(std::function<void()> work, std::function<void()> done);
  void work_loop();
  void deliver();

  Reactor& reactor_;
  int wake_fd_ = -1;
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<Job> queued_;
  std::vector<std::function<void()>> finished_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace shoal
