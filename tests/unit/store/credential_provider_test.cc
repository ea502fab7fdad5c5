// The provider's refresh rules with real sources written for the test: keys refreshed ahead of
// expiry while the old ones still work, failed refreshes retried while the old keys are kept,
// a rejection forcing a fetch at once, fixed keys never refetched. Waits are bounded polls
// with generous limits; nothing asserts how long anything took.
#include "store/credentials/provider.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace shoal {
namespace {

using namespace std::chrono_literals;

// Issues "KEY-<n>" keys valid for `lifetime`; fails while `failing` is set.
class CountingSource final : public CredentialSource {
 public:
  explicit CountingSource(std::chrono::milliseconds lifetime) : lifetime_(lifetime) {}
  std::string describe() const override { return "the counting source"; }
  Result<ExpiringCredentials> fetch() override {
    int n = ++fetches;
    if (failing) return Error(ErrorKind::kNetwork, "the counting source is down");
    ExpiringCredentials out;
    out.credentials = {"KEY-" + std::to_string(n), "secret-" + std::to_string(n), "token"};
    out.expiration = std::chrono::system_clock::now() + lifetime_;
    return out;
  }
  std::atomic<int> fetches{0};
  std::atomic<bool> failing{false};

 private:
  std::chrono::milliseconds lifetime_;
};

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 20s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

TEST(CredentialProvider, FixedKeysAreNeverFetchedAgain) {
  auto p = CredentialProvider::fixed({"AKID", "secret", ""});
  EXPECT_EQ(p->current()->access_key_id, "AKID");
  EXPECT_FALSE(p->refreshable());
  EXPECT_FALSE(p->refresh_rejected(*p->current())) << "refetching fixed keys cannot help";
  EXPECT_FALSE(p->expiration());
}

TEST(CredentialProvider, ExpiringKeysAreReplacedBeforeTheyExpire) {
  auto source = std::make_unique<CountingSource>(3000ms);
  CountingSource* s = source.get();
  auto p = CredentialProvider::start(std::move(source));
  ASSERT_TRUE(p.ok()) << p.error().describe();
  auto first = (*p)->current();
  SystemTime first_expiry = *(*p)->expiration();
  EXPECT_EQ(first->access_key_id, "KEY-1");
  ASSERT_TRUE(eventually([&] { return (*p)->current()->access_key_id != "KEY-1"; }));
  EXPECT_LT(std::chrono::system_clock::now(), first_expiry + 500ms)
      << "the replacement came well after the old keys expired";
  EXPECT_GE(s->fetches.load(), 2);
}

TEST(CredentialProvider, AFailedRefreshKeepsTheOldKeysAndIsRetried) {
  auto source = std::make_unique<CountingSource>(4000ms);
  CountingSource* s = source.get();
  RefreshPolicy policy;
  policy.retry_base = 50ms;
  auto p = CredentialProvider::start(std::move(source), policy);
  ASSERT_TRUE(p.ok());
  s->failing = true;
  ASSERT_TRUE(eventually([&] { return s->fetches.load() >= 4; })) << "no retries";
  EXPECT_EQ((*p)->current()->access_key_id, "KEY-1") << "old keys dropped on a failed refresh";
  s->failing = false;
  ASSERT_TRUE(eventually([&] { return (*p)->current()->access_key_id != "KEY-1"; }));
}

TEST(CredentialProvider, ARejectionFetchesAtOnceAndOnlyForTheCurrentKeys) {
  auto source = std::make_unique<CountingSource>(std::chrono::hours(1));
  CountingSource* s = source.get();
  auto p = CredentialProvider::start(std::move(source));
  ASSERT_TRUE(p.ok());
  auto first = (*p)->current();
  uint64_t before = (*p)->fetches();
  EXPECT_TRUE((*p)->refresh_rejected(*first));
  ASSERT_TRUE(eventually([&] { return (*p)->fetches() != before; }));
  EXPECT_EQ((*p)->current()->access_key_id, "KEY-2");
  // A rejection of keys already replaced does not fetch again.
  int fetched = s->fetches.load();
  EXPECT_TRUE((*p)->refresh_rejected(*first));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(s->fetches.load(), fetched);
}

TEST(CredentialProvider, AFirstFetchThatFailsIsTheError) {
  auto source = std::make_unique<CountingSource>(1000ms);
  source->failing = true;
  auto p = CredentialProvider::start(std::move(source));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().kind, ErrorKind::kNetwork);
  EXPECT_NE(p.error().message.find("counting source is down"), std::string::npos);
}

TEST(CredentialProvider, KeysAlreadyExpiredAtStartAreRefused) {
  auto p = CredentialProvider::start(std::make_unique<CountingSource>(-5000ms));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().kind, ErrorKind::kAccessDenied);
  EXPECT_NE(p.error().message.find("expired at"), std::string::npos) << p.error().message;
  EXPECT_EQ(p.error().message.find("secret-1"), std::string::npos);
}

TEST(CredentialProvider, ManyThreadsReadWhileItRefreshes) {
  auto p = CredentialProvider::start(std::make_unique<CountingSource>(600ms));
  ASSERT_TRUE(p.ok());
  std::atomic<bool> stop{false};
  std::atomic<int> empty{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i)
    readers.emplace_back([&] {
      while (!stop) {
        if ((*p)->current()->empty()) ++empty;
      }
    });
  ASSERT_TRUE(eventually([&] { return (*p)->fetches() >= 3; }));
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(empty.load(), 0);
}

// Answers the same expiration every time, as a metadata service does until it rotates.
class StuckSource final : public CredentialSource {
 public:
  std::string describe() const override { return "the stuck source"; }
  Result<ExpiringCredentials> fetch() override {
    ++fetches;
    return ExpiringCredentials{{"STUCK", "secret", "token"}, expires};
  }
  SystemTime expires = std::chrono::system_clock::now() + 1500ms;
  std::atomic<int> fetches{0};
};

TEST(CredentialProvider, ASourceThatNeverRenewsIsNotAskedInATightLoop) {
  auto source = std::make_unique<StuckSource>();
  StuckSource* s = source.get();
  RefreshPolicy policy;
  policy.retry_base = 100ms;
  auto p = CredentialProvider::start(std::move(source), policy);
  ASSERT_TRUE(p.ok());
  std::this_thread::sleep_for(3s);  // past the expiry: every answer is now expired too
  EXPECT_LT(s->fetches.load(), 40) << "asked " << s->fetches.load() << " times in 3 s";
  EXPECT_EQ((*p)->current()->access_key_id, "STUCK") << "keys are kept, never emptied";
}

TEST(Iso8601, FormatsAndParsesTheStsForm) {
  auto t = parse_expiration("2026-05-01T12:34:56Z\n");
  ASSERT_TRUE(t);
  EXPECT_EQ(format_iso8601(*t), "2026-05-01T12:34:56Z");
  EXPECT_TRUE(parse_expiration("2026-05-01T12:34:56.123Z"));
  EXPECT_FALSE(parse_expiration("tomorrow"));
  EXPECT_FALSE(parse_expiration(""));
}

}  // namespace
}  // namespace shoal
