#include "common/blocking_pool.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace shoal {

Result<std::unique_ptr<BlockingPool>> BlockingPool::create(Reactor& reactor, int threads) {
  int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) return errno_error("eventfd for the blocking-call workers", errno);
  return std::unique_ptr<BlockingPool>(new BlockingPool(reactor, wake_fd, threads));
}

BlockingPool::BlockingPool(Reactor& reactor, int wake_fd, int threads)
    : reactor_(reactor), wake_fd_(wake_fd) {
  reactor_.watch(wake_fd_, Reactor::kReadable, [this](uint32_t) { deliver(); });
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { work_loop(); });
}

BlockingPool::~BlockingPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    queued_.clear();
  }
  ready_.notify_all();
  for (auto& t : threads_) t.join();
  reactor_.unwatch(wake_fd_);
  ::close(wake_fd_);
}

void BlockingPool::submit(std::function<void()> work, std::function<void()> done) {
  {
    std::lock_guard lock(mu_);
    queued_.push_back(Job{std::move(work), std::move(done)});
  }
  ready_.notify_one();
}

void BlockingPool::work_loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      ready_.wait(lock, [this] { return stopping_ || !queued_.empty(); });
      if (stopping_) return;
      job = std::move(queued_.front());
      queued_.pop_front();
    }
    job.work();
    bool first;
    {
      std::lock_guard lock(mu_);
      first = finished_.empty();
      finished_.push_back(std::move(job.done));
    }
    // One wake-up per batch: the loop takes every finished completion at once.
    uint64_t one = 1;
    if (first) (void)::write(wake_fd_, &one, sizeof(one));
  }
}

void BlockingPool::deliver() {
  uint64_t count = 0;
  (void)::read(wake_fd_, &count, sizeof(count));
  std::vector<std::function<void()>> finished;
  {
    std::lock_guard lock(mu_);
    finished.swap(finished_);
  }
  for (auto& done : finished) done();
}

}  // namespace shoal
