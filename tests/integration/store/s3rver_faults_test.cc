// The s3:// store when things go wrong: the server dies in the middle of a listing (and comes
// back, or does not), and credentials the server rejects.
#include <gtest/gtest.h>

#include <optional>
#include <thread>

#include "common/poll_reactor.h"
#include "store/rest/rest_store.h"
#include "support/s3rver.h"

namespace shoal {
namespace {

constexpr const char* kBucket = "shoal-faults";

class S3rverFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = S3rver::start({kBucket});
    ASSERT_TRUE(server.ok()) << server.error().describe();
    server_ = std::move(server).value();
  }

  std::unique_ptr<RestStore> open_store(const StoreConfig& config) {
    ObjectUri uri{.scheme = ObjectUri::Scheme::kS3, .bucket = kBucket};
    auto store = RestStore::create(uri, config, loop_);
    if (!store.ok()) {
      ADD_FAILURE() << store.error().describe();
      return nullptr;
    }
    return std::move(store).value();
  }

  Result<ListPage> list_page(RestStore& store, ListQuery q) {
    return run_to_completion<ListPage>(loop_, [&](Done<ListPage> d) { store.list(q, d); });
  }

  PollReactor loop_;
  std::unique_ptr<S3rver> server_;
};

ListQuery first_page() {
  ListQuery q;
  q.prefix = "many/";
  q.max_keys = 1000;
  return q;
}

TEST_F(S3rverFaults, ListingSurvivesTheServerRestartingMidway) {
  // A budget that comfortably outlasts a restart of s3rver (node boots in about a second).
  StoreConfig config = server_->config();
  config.retry.max_attempts = 30;
  config.retry.base = std::chrono::milliseconds(100);
  config.retry.cap = std::chrono::milliseconds(1000);
  auto store = open_store(config);
  ASSERT_NE(store, nullptr);
  auto keys = numbered_keys("many/key-", 2500);
  ASSERT_TRUE(put_keys(loop_, *store, keys).ok());

  auto page = list_page(*store, first_page());
  ASSERT_TRUE(page.ok()) << page.error().describe();
  std::vector<std::string> listed;
  for (auto& o : page->objects) listed.push_back(o.key);
  ASSERT_FALSE(page->next_token.empty());

  server_->stop();
  uint64_t sent_before = store->requests_sent();
  // The rest of the listing runs on its own thread while this one restarts the server (which
  // must be started from a thread that outlives it).
  std::optional<Error> failure;
  std::thread lister([&] {
    ListQuery q = first_page();
    q.continuation_token = page->next_token;
    while (!q.continuation_token.empty()) {
      auto next = list_page(*store, q);
      if (!next.ok()) {
        failure = next.error();
        return;
      }
      for (auto& o : next->objects) listed.push_back(o.key);
      q.continuation_token = next->next_token;
    }
  });
  Status restarted = server_->restart();
  lister.join();
  ASSERT_TRUE(restarted.ok()) << restarted.error().describe();
  ASSERT_FALSE(failure.has_value()) << failure->describe();
  EXPECT_EQ(listed, keys);
  // The server was down when page two was first asked for: it took more than one attempt.
  EXPECT_GT(store->requests_sent() - sent_before, 2u);
}

TEST_F(S3rverFaults, ListingFailsClearlyWhenTheServerStaysDown) {
  auto store = open_store(server_->config());  // 3 attempts, 10-100 ms apart
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(put_keys(loop_, *store, numbered_keys("many/key-", 2500)).ok());
  auto page = list_page(*store, first_page());
  ASSERT_TRUE(page.ok()) << page.error().describe();

  server_->stop();
  uint64_t sent_before = store->requests_sent();
  ListQuery q = first_page();
  q.continuation_token = page->next_token;
  auto next = list_page(*store, q);
  ASSERT_FALSE(next.ok());
  const Error& e = next.error();
  EXPECT_EQ(e.kind, ErrorKind::kNetwork) << e.describe();
  EXPECT_NE(e.message.find("ListObjectsV2"), std::string::npos) << e.describe();
  EXPECT_NE(e.message.find("gave up after 3 attempts"), std::string::npos) << e.describe();
  EXPECT_EQ(store->requests_sent() - sent_before, 3u);
}

TEST_F(S3rverFaults, RejectedCredentialsFailAfterOneAttempt) {
  StoreConfig config = server_->config();
  config.credentials.access_key_id = "NOT-THE-S3RVER-KEY";
  config.credentials.secret_access_key = "very-secret-value-never-printed";
  config.retry.max_attempts = 5;
  auto store = open_store(config);
  ASSERT_NE(store, nullptr);

  auto page = list_page(*store, first_page());
  ASSERT_FALSE(page.ok());
  const Error& e = page.error();
  EXPECT_EQ(e.kind, ErrorKind::kAccessDenied) << e.describe();
  EXPECT_EQ(e.http_status, 403);
  EXPECT_EQ(e.code, "InvalidAccessKeyId");
  EXPECT_EQ(store->requests_sent(), 1u) << "an authentication failure must not be retried";
  EXPECT_EQ(e.describe().find("very-secret-value"), std::string::npos);

  auto put = run_to_completion<PutReply>(
      loop_, [&](Done<PutReply> d) { store->put("k", Body::from_string("v"), d); });
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.error().kind, ErrorKind::kAccessDenied) << put.error().describe();
  EXPECT_EQ(store->requests_sent(), 2u);
  EXPECT_EQ(put.error().describe().find("very-secret-value"), std::string::npos);
  EXPECT_EQ(store->describe().find("very-secret-value"), std::string::npos);
}

}  // namespace
}  // namespace shoal
