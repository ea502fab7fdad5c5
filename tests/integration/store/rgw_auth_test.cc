// Requests RGW must refuse, and what shoal then tells the user: a wrong secret, an unknown key,
// a request signed outside the server's clock window, and a body that does not match its
// Content-MD5. s3rver checks no signature, so this is where the signer meets a server that
// does. Every message must say what to do and never carry a secret.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "store/blocking_store.h"
#include "store/hash.h"
#include "support/rgw.h"

namespace shoal {
namespace {

using namespace std::chrono_literals;

constexpr const char* kBucket = "refusals";  // not "auth": see Rgw::create_bucket
constexpr const char* kWrongSecret = "not-the-secret-of-the-test-user-0123456789";

// RGW 16.2 takes the region from the credential scope and signs with it, whatever region
// its zonegroup has: a request scoped to another region is accepted. S3 refuses it
// (AuthorizationHeaderMalformed), so with this switch on the test expects a refusal.
constexpr bool kRgwChecksCredentialRegion = false;

class RgwAuth : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto started = Rgw::start({kBucket});
    if (started.ok()) {
      cluster_ = std::move(*started).release();
    } else {
      start_error_ = new std::string(started.error().describe());
    }
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(cluster_, nullptr) << "cannot start RGW: " << *start_error_;
  }

  static StoreConfig good_config() {
    StoreConfig config = cluster_->config();
    config.retry.max_attempts = 1;  // a refusal is final; one attempt keeps the log short
    return config;
  }

  static Result<BlockingStore> open(const StoreConfig& config) {
    return BlockingStore::open(ObjectUri{.scheme = ObjectUri::Scheme::kS3, .bucket = kBucket},
                               config);
  }

  // The error's every printed form is free of both secrets.
  static void expect_no_secret(const Error& e) {
    for (const std::string& text : {e.describe(), e.message, e.code}) {
      EXPECT_EQ(text.find(Rgw::kSecretKey), std::string::npos) << "the secret leaked";
      EXPECT_EQ(text.find(kWrongSecret), std::string::npos) << "the wrong secret leaked";
    }
  }

  static Rgw* cluster_;
  static std::string* start_error_;
};

Rgw* RgwAuth::cluster_ = nullptr;
std::string* RgwAuth::start_error_ = nullptr;

TEST_F(RgwAuth, TheTestUsersKeysAreAccepted) {
  auto store = open(good_config());
  ASSERT_TRUE(store.ok()) << store.error().describe();
  auto put = store->put("accepted", Body::from_string("signed right"));
  ASSERT_TRUE(put.ok()) << put.error().describe();
  auto got = store->get(GetQuery{.key = "accepted"});
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(got->data, "signed right");
  auto listed = store->list(ListQuery{.prefix = "acc"});
  ASSERT_TRUE(listed.ok()) << listed.error().describe();
  EXPECT_EQ(listed->objects.size(), 1u);
}

TEST_F(RgwAuth, AWrongSecretIsRefusedWithAHintAtTheSecret) {
  StoreConfig config = good_config();
  config.credentials.secret_access_key = kWrongSecret;
  auto store = open(config);
  ASSERT_TRUE(store.ok()) << store.error().describe();
  auto put = store->put("wrong-secret", Body::from_string("x"));
  ASSERT_FALSE(put.ok()) << "RGW accepted a request signed with the wrong secret";
  EXPECT_EQ(put.error().kind, ErrorKind::kAccessDenied) << put.error().describe();
  EXPECT_EQ(put.error().code, "SignatureDoesNotMatch");
  EXPECT_EQ(put.error().http_status, 403);
  EXPECT_NE(put.error().message.find("check the secret access key"), std::string::npos)
      << put.error().describe();
  EXPECT_NE(put.error().message.find("wrong-secret"), std::string::npos)
      << "the message names the key: " << put.error().describe();
  expect_no_secret(put.error());

  auto listed = store->list(ListQuery{.prefix = ""});
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().kind, ErrorKind::kAccessDenied) << listed.error().describe();
  expect_no_secret(listed.error());

  auto good = open(good_config());
  ASSERT_TRUE(good.ok());
  auto head = good->head("wrong-secret");
  ASSERT_FALSE(head.ok()) << "a refused PUT stored an object";
  EXPECT_EQ(head.error().kind, ErrorKind::kNotFound);
}

TEST_F(RgwAuth, AnUnknownAccessKeyIsRefused) {
  StoreConfig config = good_config();
  config.credentials.access_key_id = "SHOALNOSUCHKEY000000";
  auto store = open(config);
  ASSERT_TRUE(store.ok()) << store.error().describe();
  auto got = store->get(GetQuery{.key = "accepted"});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().kind, ErrorKind::kAccessDenied) << got.error().describe();
  EXPECT_EQ(got.error().code, "InvalidAccessKeyId");
  EXPECT_NE(got.error().message.find("check the credentials"), std::string::npos)
      << got.error().describe();
  expect_no_secret(got.error());
}

TEST_F(RgwAuth, ACredentialScopeForAnotherRegion) {
  StoreConfig config = good_config();
  config.region = "eu-west-9";
  auto store = open(config);
  ASSERT_TRUE(store.ok()) << store.error().describe();
  auto put = store->put("other-region", Body::from_string("x"));
  if (!kRgwChecksCredentialRegion) {
    // The signature is right for the scope it names, and RGW checks no more (see above).
    EXPECT_TRUE(put.ok()) << put.error().describe();
    return;
  }
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.error().kind, ErrorKind::kAccessDenied) << put.error().describe();
  expect_no_secret(put.error());
}

TEST_F(RgwAuth, ARequestSignedOutsideTheClockWindowIsRefused) {
  // RGW allows 15 minutes between the signed time and its own, either way.
  for (auto skew : {-1h, 1h}) {
    SCOPED_TRACE("signed " + std::to_string(skew.count()) + " h off");
    StoreConfig config = good_config();
    config.signing_clock = [skew] { return std::chrono::system_clock::now() + skew; };
    auto store = open(config);
    ASSERT_TRUE(store.ok()) << store.error().describe();
    auto put = store->put("skewed", Body::from_string("x"));
    ASSERT_FALSE(put.ok()) << "RGW accepted a request signed an hour off";
    EXPECT_EQ(put.error().kind, ErrorKind::kAccessDenied) << put.error().describe();
    EXPECT_EQ(put.error().code, "RequestTimeTooSkewed");
    EXPECT_NE(put.error().message.find("check this machine's clock"), std::string::npos)
        << put.error().describe();
    expect_no_secret(put.error());
  }
  // Inside the window the same hook signs requests RGW accepts: the refusal was the time.
  StoreConfig config = good_config();
  config.signing_clock = [] { return std::chrono::system_clock::now() - 5min; };
  auto store = open(config);
  ASSERT_TRUE(store.ok()) << store.error().describe();
  auto put = store->put("slightly-skewed", Body::from_string("x"));
  EXPECT_TRUE(put.ok()) << put.error().describe();
}

TEST_F(RgwAuth, ABodyThatDoesNotMatchItsContentMd5IsRefused) {
  // Requests carry UNSIGNED-PAYLOAD, so the body's integrity rests on Content-MD5: a body
  // whose precomputed digest is of other bytes (as if the file changed after hashing).
  auto store = open(good_config());
  ASSERT_TRUE(store.ok()) << store.error().describe();
  Body body = Body::from_string("the bytes sent");
  body.content_md5 = base64_encode(md5("the bytes hashed"));
  auto put = store->put("tampered", std::move(body));
  ASSERT_FALSE(put.ok()) << "RGW stored a body that does not match its Content-MD5";
  EXPECT_EQ(put.error().code, "BadDigest") << put.error().describe();
  EXPECT_EQ(put.error().http_status, 400);
  EXPECT_EQ(put.error().kind, ErrorKind::kInvalidArgument) << put.error().describe();
  EXPECT_NE(put.error().message.find("upload it again"), std::string::npos)
      << put.error().describe();
  EXPECT_NE(put.error().message.find("tampered"), std::string::npos) << put.error().describe();
  expect_no_secret(put.error());
  auto head = store->head("tampered");
  ASSERT_FALSE(head.ok()) << "RGW kept the tampered body";
  EXPECT_EQ(head.error().kind, ErrorKind::kNotFound);
}

}  // namespace
}  // namespace shoal
