// The retry policy of the object-store client: which failed attempts are worth repeating, and
// how long to wait before the next one (exponential backoff with full jitter, bounded by
// RetryPolicy, stretched to what the server asked for). Pure decisions, no sleeping and no
// clock of its own, so every rule is unit-tested with a seeded generator.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

#include "common/error.h"
#include "store/http_request.h"
#include "store/store_config.h"

namespace shoal {

// An HTTP error answer worth repeating: 5xx other than 501/505, 429, 408, and the throttling
// and timeout codes some services send with other statuses (400 RequestTimeout, 503 SlowDown,
// TotalQpsLimitExceeded, ...).
bool is_retryable_http(int status, std::string_view code);

// A failed attempt worth repeating: transport failures (refused, reset, truncated body,
// timeouts), throttling, integrity failures of data in transit, and retryable HTTP answers.
// Authentication, not-found, precondition and range errors fail at once.
bool is_retryable(const Error& error);

// How long the server asked us to wait: Retry-After (delta-seconds or an HTTP date) or OSS's
// x-oss-qos-delay-time (milliseconds). None when neither header is present or parseable.
std::optional<std::chrono::milliseconds> server_retry_delay(
    const HttpResponse& response, std::chrono::system_clock::time_point now);

// Delays between the attempts of one operation.
class Backoff {
 public:
  Backoff(RetryPolicy policy, uint64_t seed);

  // After `attempts_made` (≥ 1) failed attempts: the wait before the next, or none when the
  // budget of policy.max_attempts is spent. Full jitter: uniform in [0, min(cap, base·2^(n-1))];
  // a server's requested delay raises that, but never past the cap, so a hostile or confused
  // server cannot park a request for hours.
  std::optional<std::chrono::milliseconds> next_delay(
      int attempts_made, std::optional<std::chrono::milliseconds> server_delay = std::nullopt);

  const RetryPolicy& policy() const { return policy_; }

 private:
  RetryPolicy policy_;
  std::mt19937_64 rng_;
};

}  // namespace shoal
