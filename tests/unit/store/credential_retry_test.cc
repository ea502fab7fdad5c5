// A request refused because its keys expired makes the REST store ask its provider for fresh
// keys once and send the request once more; fixed keys are never retried that way. Scripted
// loopback server; assertions are on the requests it saw.
#include <gtest/gtest.h>

#include <atomic>

#include "store/blocking_store.h"
#include "store/credentials/provider.h"
#include "tests/support/http_test_server.h"

namespace shoal {
namespace {

using Request = HttpTestServer::Request;
using Reply = HttpTestServer::Reply;

// Issues KEY1, KEY2, ... valid for an hour each.
class RotatingSource final : public CredentialSource {
 public:
  std::string describe() const override { return "the rotating test source"; }
  Result<ExpiringCredentials> fetch() override {
    int n = ++fetches;
    return ExpiringCredentials{
        Credentials{"KEY" + std::to_string(n), "secret-never-shown-" + std::to_string(n),
                    "session-token-never-shown"},
        std::chrono::system_clock::now() + std::chrono::hours(1)};
  }
  std::atomic<int> fetches{0};
};

Reply expired() {
  return Reply{http_reply(403,
                          "<?xml version=\"1.0\"?><Error><Code>ExpiredToken</Code><Message>The "
                          "provided token has expired.</Message></Error>")};
}

bool signed_by(const Request& r, const std::string& key) {
  const std::string* auth = r.header("Authorization");
  return auth != nullptr && auth->find("Credential=" + key + "/") != std::string::npos;
}

StoreConfig config_for(const HttpTestServer& server) {
  StoreConfig c;
  c.endpoint = server.endpoint();
  c.region = "us-east-1";
  c.retry.max_attempts = 3;
  c.retry.base = std::chrono::milliseconds(1);
  c.retry.cap = std::chrono::milliseconds(5);
  return c;
}

const ObjectUri kUri{.scheme = ObjectUri::Scheme::kS3, .bucket = "bkt"};

TEST(CredentialRetry, AnExpiredRefusalRefreshesOnceAndSucceedsWithTheNewKeys) {
  HttpTestServer server([](const Request& r) {
    if (signed_by(r, "KEY1")) return expired();
    return Reply{http_reply(200, "bytes", "ETag: \"e\"\r\n")};
  });
  auto source = std::make_unique<RotatingSource>();
  RotatingSource* s = source.get();
  auto provider = CredentialProvider::start(std::move(source));
  ASSERT_TRUE(provider.ok());
  StoreConfig config = config_for(server);
  config.credential_provider = *provider;
  auto store = BlockingStore::open(kUri, config);
  ASSERT_TRUE(store.ok()) << store.error().describe();
  auto got = store->get(GetQuery{.key = "k"});
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(server.requests(), 2);
  EXPECT_EQ(s->fetches.load(), 2);
  auto seen = server.received();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(signed_by(seen[1], "KEY2"));
}

TEST(CredentialRetry, ASecondRefusalIsFinalAndSaysSoWithoutSecrets) {
  HttpTestServer server([](const Request&) { return expired(); });
  auto provider = CredentialProvider::start(std::make_unique<RotatingSource>());
  ASSERT_TRUE(provider.ok());
  StoreConfig config = config_for(server);
  config.credential_provider = *provider;
  auto store = BlockingStore::open(kUri, config);
  ASSERT_TRUE(store.ok());
  auto got = store->get(GetQuery{.key = "k"});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().kind, ErrorKind::kAccessDenied);
  EXPECT_EQ(got.error().code, "ExpiredToken");
  EXPECT_EQ(server.requests(), 2) << "one forced refresh and one retry, no more";
  EXPECT_EQ(got.error().describe().find("secret-never-shown"), std::string::npos);
  EXPECT_EQ(got.error().describe().find("session-token-never-shown"), std::string::npos);
}

TEST(CredentialRetry, FixedKeysAreNotRetriedOnAnExpiredRefusal) {
  HttpTestServer server([](const Request&) { return expired(); });
  StoreConfig config = config_for(server);
  config.credentials = Credentials{"AKIDFIXED", "fixed-secret", ""};
  auto store = BlockingStore::open(kUri, config);
  ASSERT_TRUE(store.ok());
  auto got = store->get(GetQuery{.key = "k"});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, "ExpiredToken");
  EXPECT_EQ(server.requests(), 1);
}

}  // namespace
}  // namespace shoal
