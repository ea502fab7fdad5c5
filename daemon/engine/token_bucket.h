// The optional requests-per-second cap on GETs: a token bucket refilled from the reactor's
// clock. Holds up to one second's worth of tokens (at least one), so a burst after a quiet
// spell is allowed but the average rate never exceeds the cap.
#pragma once

#include <chrono>

#include "common/reactor.h"

namespace shoal::engine {

class TokenBucket {
 public:
  // rate <= 0: no cap; take() always succeeds.
  explicit TokenBucket(double rate_per_second);

  bool limited() const { return rate_ > 0; }
  // Takes one token if there is one.
  bool take(Reactor::Clock::time_point now);
  // How long until a token is available (zero when one is).
  std::chrono::milliseconds wait(Reactor::Clock::time_point now);

 private:
  void refill(Reactor::Clock::time_point now);

  double rate_;
  double capacity_;
  double tokens_;
  Reactor::Clock::time_point last_;
};

}  // namespace shoal::engine
