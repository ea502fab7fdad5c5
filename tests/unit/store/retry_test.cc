#include "store/retry.h"

#include <gtest/gtest.h>

#include <ctime>

namespace shoal {
namespace {

using std::chrono::milliseconds;

Error http_error(ErrorKind kind, int status, std::string code = "") {
  Error e(kind, "test");
  e.http_status = status;
  e.code = std::move(code);
  return e;
}

TEST(Retry, RetryableHttpAnswers) {
  for (int status : {500, 502, 503, 504, 429, 408}) EXPECT_TRUE(is_retryable_http(status, ""));
  EXPECT_TRUE(is_retryable_http(503, "SlowDown"));
  EXPECT_TRUE(is_retryable_http(503, "TotalQpsLimitExceeded"));
  EXPECT_TRUE(is_retryable_http(400, "RequestTimeout"));
  EXPECT_TRUE(is_retryable_http(200, "InternalError"));  // S3's CompleteMultipartUpload
  for (int status : {400, 401, 403, 404, 409, 412, 416, 501, 505})
    EXPECT_FALSE(is_retryable_http(status, "")) << status;
  EXPECT_FALSE(is_retryable_http(403, "AccessDenied"));
  EXPECT_FALSE(is_retryable_http(403, "InvalidAccessKeyId"));
  EXPECT_FALSE(is_retryable_http(404, "NoSuchKey"));
}

TEST(Retry, RetryableErrors) {
  EXPECT_TRUE(is_retryable(Error(ErrorKind::kNetwork, "connection refused")));
  EXPECT_TRUE(is_retryable(Error(ErrorKind::kNetwork, "response body truncated")));
  EXPECT_TRUE(is_retryable(Error(ErrorKind::kTimeout, "stalled")));
  EXPECT_TRUE(is_retryable(Error(ErrorKind::kIntegrity, "short body")));
  EXPECT_TRUE(is_retryable(http_error(ErrorKind::kThrottled, 503, "SlowDown")));
  EXPECT_TRUE(is_retryable(http_error(ErrorKind::kThrottled, 429)));
  EXPECT_TRUE(is_retryable(http_error(ErrorKind::kServer, 500, "InternalError")));
  EXPECT_TRUE(is_retryable(http_error(ErrorKind::kTimeout, 408)));

  EXPECT_FALSE(is_retryable(http_error(ErrorKind::kAccessDenied, 403, "InvalidAccessKeyId")));
  EXPECT_FALSE(is_retryable(http_error(ErrorKind::kAccessDenied, 403, "SignatureDoesNotMatch")));
  EXPECT_FALSE(is_retryable(http_error(ErrorKind::kNotFound, 404, "NoSuchKey")));
  EXPECT_FALSE(is_retryable(http_error(ErrorKind::kPreconditionFailed, 412)));
  EXPECT_FALSE(is_retryable(http_error(ErrorKind::kPreconditionFailed, 200)));  // ETag changed
  EXPECT_FALSE(is_retryable(http_error(ErrorKind::kRangeNotSatisfiable, 416, "InvalidRange")));
  EXPECT_FALSE(is_retryable(http_error(ErrorKind::kUnsupported, 501, "NotImplemented")));
  EXPECT_FALSE(is_retryable(Error(ErrorKind::kIo, "cannot read the body file")));
  EXPECT_FALSE(is_retryable(Error(ErrorKind::kInvalidArgument, "bad endpoint")));
}

TEST(Retry, FullJitterStaysUnderTheDoublingCeilingAndTheCap) {
  RetryPolicy policy;  // the defaults: 5 attempts, 200 ms base, 20 s cap
  Backoff backoff(policy, 42);
  const int64_t ceilings[] = {200, 400, 800, 1600};
  for (int round = 0; round < 200; ++round) {
    for (int attempts = 1; attempts < 5; ++attempts) {
      auto delay = backoff.next_delay(attempts);
      ASSERT_TRUE(delay.has_value());
      EXPECT_GE(delay->count(), 0);
      EXPECT_LE(delay->count(), ceilings[attempts - 1]);
    }
  }
  RetryPolicy many{40, milliseconds(200), milliseconds(20000)};
  Backoff long_backoff(many, 7);
  int64_t highest = 0;
  for (int attempts = 1; attempts < 40; ++attempts) {
    auto delay = long_backoff.next_delay(attempts);
    ASSERT_TRUE(delay.has_value());
    EXPECT_LE(delay->count(), 20000);
    highest = std::max<int64_t>(highest, delay->count());
  }
  EXPECT_GT(highest, 1600) << "later attempts wait longer than early ones can";
}

TEST(Retry, JitterIsSpreadOverTheWholeInterval) {
  Backoff backoff(RetryPolicy{}, 1);
  int low = 0, high = 0;
  for (int i = 0; i < 1000; ++i) {
    int64_t d = backoff.next_delay(3)->count();  // uniform in [0, 800]
    if (d < 200) ++low;
    if (d > 600) ++high;
  }
  // Each quarter holds about 250 of 1000 draws; 150 leaves a wide margin.
  EXPECT_GT(low, 150);
  EXPECT_GT(high, 150);
}

TEST(Retry, TheSameSeedGivesTheSameDelays) {
  Backoff a(RetryPolicy{}, 99), b(RetryPolicy{}, 99);
  for (int attempts = 1; attempts < 5; ++attempts)
    EXPECT_EQ(a.next_delay(attempts), b.next_delay(attempts));
}

TEST(Retry, TheBudgetCountsEveryAttempt) {
  Backoff backoff(RetryPolicy{}, 3);
  EXPECT_TRUE(backoff.next_delay(4).has_value());
  EXPECT_FALSE(backoff.next_delay(5).has_value());
  EXPECT_FALSE(backoff.next_delay(6).has_value());
  Backoff single(RetryPolicy{1, milliseconds(200), milliseconds(20000)}, 3);
  EXPECT_FALSE(single.next_delay(1).has_value());
}

TEST(Retry, AServerDelayRaisesTheWaitButNeverPastTheCap) {
  Backoff backoff(RetryPolicy{}, 5);
  for (int i = 0; i < 50; ++i) {
    auto d = backoff.next_delay(1, milliseconds(3000));
    ASSERT_TRUE(d.has_value());
    EXPECT_GE(d->count(), 3000);
    EXPECT_LE(d->count(), 3000);  // jitter under 200 ms cannot exceed the server's 3 s
  }
  auto capped = backoff.next_delay(1, milliseconds(3600 * 1000));
  EXPECT_EQ(capped, milliseconds(20000));
}

TEST(Retry, ServerRetryDelayFromHeaders) {
  auto now = std::chrono::system_clock::from_time_t(1700000000);
  HttpResponse r;
  EXPECT_FALSE(server_retry_delay(r, now).has_value());

  r.headers = {{"retry-after", "7"}};
  EXPECT_EQ(server_retry_delay(r, now), milliseconds(7000));

  // An HTTP date 90 s after `now` (1700000000 is Tue, 14 Nov 2023 22:13:20 GMT).
  r.headers = {{"retry-after", "Tue, 14 Nov 2023 22:14:50 GMT"}};
  EXPECT_EQ(server_retry_delay(r, now), milliseconds(90000));
  r.headers = {{"retry-after", "Tue, 14 Nov 2023 22:00:00 GMT"}};  // in the past
  EXPECT_EQ(server_retry_delay(r, now), milliseconds(0));

  r.headers = {{"x-oss-qos-delay-time", "1500"}};
  EXPECT_EQ(server_retry_delay(r, now), milliseconds(1500));
  r.headers = {{"retry-after", "9"}, {"x-oss-qos-delay-time", "250"}};
  EXPECT_EQ(server_retry_delay(r, now), milliseconds(250));

  r.headers = {{"retry-after", "soon"}};
  EXPECT_FALSE(server_retry_delay(r, now).has_value());
  r.headers = {{"retry-after", "-5"}};
  EXPECT_FALSE(server_retry_delay(r, now).has_value());
}

}  // namespace
}  // namespace shoal
