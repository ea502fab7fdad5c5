#include "store/retry.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <string>

namespace shoal {
namespace {

// Service codes that mean "slow down" or "try again" whatever status carries them.
constexpr std::array<std::string_view, 9> kRetryableCodes = {
    "SlowDown",           "TotalQpsLimitExceeded", "RequestTimeout",
    "Throttling",         "ThrottlingException",   "RequestThrottled",
    "InternalError",      "ServiceUnavailable",    "RequestLimitExceeded",
};

std::optional<int64_t> parse_count(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

std::optional<std::chrono::milliseconds> parse_retry_after(
    const std::string& value, std::chrono::system_clock::time_point now) {
  if (auto seconds = parse_count(value)) return std::chrono::seconds(*seconds);
  time_t when = curl_getdate(value.c_str(), nullptr);  // an HTTP date
  if (when < 0) return std::nullopt;
  auto wait = std::chrono::system_clock::from_time_t(when) - now;
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::duration_cast<std::chrono::milliseconds>(wait));
}

}  // namespace

bool is_retryable_http(int status, std::string_view code) {
  if (std::find(kRetryableCodes.begin(), kRetryableCodes.end(), code) != kRetryableCodes.end())
    return true;
  if (status == 408 || status == 429) return true;
  return status >= 500 && status != 501 && status != 505;
}

bool is_retryable(const Error& error) {
  switch (error.kind) {
    case ErrorKind::kNetwork:
    case ErrorKind::kTimeout:
    case ErrorKind::kThrottled:
    case ErrorKind::kIntegrity:  // truncated or damaged in transit: a fresh copy may be whole
      return true;
    default:
      return error.http_status != 0 && is_retryable_http(error.http_status, error.code);
  }
}

std::optional<std::chrono::milliseconds> server_retry_delay(
    const HttpResponse& response, std::chrono::system_clock::time_point now) {
  if (const std::string* qos = response.header("x-oss-qos-delay-time")) {
    if (auto ms = parse_count(*qos)) return std::chrono::milliseconds(*ms);
  }
  if (const std::string* after = response.header("retry-after"))
    return parse_retry_after(*after, now);
  return std::nullopt;
}

Backoff::Backoff(RetryPolicy policy, uint64_t seed) : policy_(policy), rng_(seed) {}

std::optional<std::chrono::milliseconds> Backoff::next_delay(
    int attempts_made, std::optional<std::chrono::milliseconds> server_delay) {
  if (attempts_made >= policy_.max_attempts) return std::nullopt;
  int64_t cap = std::max<int64_t>(0, policy_.cap.count());
  int64_t ceiling = std::max<int64_t>(0, policy_.base.count());
  // Doubling stops at the cap, so a large attempt count cannot overflow.
  for (int i = 1; i < attempts_made && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  int64_t delay = std::uniform_int_distribution<int64_t>(0, ceiling)(rng_);
  if (server_delay) delay = std::max<int64_t>(delay, std::min(server_delay->count(), cap));
  return std::chrono::milliseconds(delay);
}

}  // namespace shoal
