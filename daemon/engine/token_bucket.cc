#include "daemon/engine/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace shoal::engine {

TokenBucket::TokenBucket(double rate_per_second)
    : rate_(rate_per_second),
      capacity_(std::max(1.0, rate_per_second)),
      tokens_(capacity_),
      last_(Reactor::Clock::now()) {}

void TokenBucket::refill(Reactor::Clock::time_point now) {
  if (now <= last_) return;
  double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(capacity_, tokens_ + elapsed * rate_);
  last_ = now;
}

bool TokenBucket::take(Reactor::Clock::time_point now) {
  if (!limited()) return true;
  refill(now);
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

std::chrono::milliseconds TokenBucket::wait(Reactor::Clock::time_point now) {
  if (!limited()) return std::chrono::milliseconds(0);
  refill(now);
  if (tokens_ >= 1) return std::chrono::milliseconds(0);
  double seconds = (1 - tokens_) / rate_;
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(seconds * 1000)));
}

}  // namespace shoal::engine
