// What an asynchronous component (the HTTP client, the uploader, a frontend) needs from an
// event loop. Tools run a PollReactor; the daemon implements the same interface over
// io_uring, so the store client never knows which loop drives it.
// Single-threaded: every callback runs on the thread that runs the loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace shoal {

class Reactor {
 public:
  enum Events : uint32_t { kReadable = 1u, kWritable = 2u, kError = 4u };
  using FdCallback = std::function<void(uint32_t fired)>;
  using TimerId = uint64_t;
  using Clock = std::chrono::steady_clock;

  virtual ~Reactor() = default;

  // Calls cb with the fired events while fd is ready for any of `events`. A second call for
  // the same fd replaces the interest and the callback.
  virtual void watch(int fd, uint32_t events, FdCallback cb) = 0;
  virtual void unwatch(int fd) = 0;

  // One-shot timer. Cancelling an expired or unknown id is a no-op.
  virtual TimerId add_timer(std::chrono::milliseconds delay, std::function<void()> cb) = 0;
  virtual void cancel_timer(TimerId id) = 0;

  // Runs fn on the loop after the current callback returns; never inline.
  virtual void post(std::function<void()> fn) = 0;
};

}  // namespace shoal
