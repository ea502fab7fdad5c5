// Keys that expire every few seconds, end to end: the fake STS and metadata services of
// tests/support issue them, a store that verifies every SigV4 signature accepts only keys that
// are issued and unexpired, and real s3:// stores opened from resolve_store_config read and
// upload across several expiries. Nothing may fail and nothing may be logged as an error;
// a rotated Secret directory is picked up, an STS outage shorter than the keys' remaining
// validity is invisible, and keys that expired with STS gone give a clear error.
// Durations are a few lifetimes of a few seconds; assertions are on outcomes, never on time.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "store/blocking_store.h"
#include "store/config.h"
#include "store/credentials/provider.h"
#include "tests/support/command.h"
#include "tests/support/fake_credentials.h"
#include "tests/support/temp_dir.h"

namespace shoal {
namespace {

using namespace std::chrono_literals;
using Vars = std::map<std::string, std::string, std::less<>>;
namespace fs = std::filesystem;

constexpr auto kLifetime = 5s;  // per issued key set; refreshed at about 2/3 of it
const ObjectUri kUri{.scheme = ObjectUri::Scheme::kS3, .bucket = "bkt"};

EnvLookup fake_env(Vars vars) { return environment_of(std::move(vars)); }

void write_file(const std::string& path, std::string_view text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string content_of(int i) { return "object " + std::to_string(i) + std::string(100 + i, 'x'); }

class CredentialRefresh : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    token_file_ = tmp_.path() + "/token";
    write_file(token_file_, test::FakeCredentialServer::Options{}.oidc_token);
    for (int i = 0; i < kObjects; ++i)
      store_.put_object("data/" + std::to_string(i), content_of(i));
    testing::internal::CaptureStderr();
  }
  void TearDown() override {
    std::string log = testing::internal::GetCapturedStderr();
    if (expect_clean_log_) {
      EXPECT_EQ(log.find("] error: "), std::string::npos) << log;  // the level of a log line
    }
    for (const char* secret : {"secret-", "token-"})
      EXPECT_EQ(log.find(secret), std::string::npos) << "a secret reached the log:\n" << log;
  }

  Vars irsa() const {
    return {{"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/shoal"},
            {"AWS_WEB_IDENTITY_TOKEN_FILE", token_file_},
            {"AWS_STS_ENDPOINT", sts_.endpoint()}};
  }
  Vars rrsa() const {
    return {{"ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/shoal"},
            {"ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "acs:ram::1:oidc-provider/ack-rrsa"},
            {"ALIBABA_CLOUD_OIDC_TOKEN_FILE", token_file_},
            {"ALIBABA_CLOUD_STS_ENDPOINT", sts_.endpoint()}};
  }

  Result<StoreConfig> config(const Vars& vars) {
    StoreFlags flags;
    flags.endpoint = store_.endpoint();
    flags.region = "us-east-1";
    StoreFileSettings file;
    file.retries = 3;
    file.retry_base_ms = 5;
    return resolve_store_config(ObjectUri::Scheme::kS3, flags, file, fake_env(vars));
  }

  // Reads every object in turn on `threads` stores of their own (as shoald's loops do) until
  // `how_long` passed; returns the failures, described.
  std::vector<std::string> read_for(const StoreConfig& c, std::chrono::seconds how_long,
                                    int threads = 2) {
    std::mutex mu;
    std::vector<std::string> failures;
    std::atomic<int> reads{0};
    auto end = std::chrono::steady_clock::now() + how_long;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        auto store = BlockingStore::open(kUri, c);
        if (!store.ok()) {
          std::lock_guard lock(mu);
          failures.push_back(store.error().describe());
          return;
        }
        for (int i = t; std::chrono::steady_clock::now() < end; i = (i + 1) % kObjects) {
          auto got = store->get(GetQuery{.key = "data/" + std::to_string(i)});
          ++reads;
          std::string problem = !got.ok()                     ? got.error().describe()
                                : got->data != content_of(i) ? "wrong bytes for data/" +
                                                                   std::to_string(i)
                                                             : "";
          if (!problem.empty()) {
            std::lock_guard lock(mu);
            failures.push_back(problem);
          }
          std::this_thread::sleep_for(5ms);
        }
      });
    for (auto& w : workers) w.join();
    EXPECT_GT(reads.load(), 10) << "the readers barely ran";
    return failures;
  }

  static constexpr int kObjects = 16;
  test::IssuedKeys keys_;
  test::FakeCredentialServer sts_{keys_, {.lifetime = kLifetime}};
  test::VerifyingStore store_{keys_};
  test::TempDir tmp_;
  std::string token_file_;
  bool expect_clean_log_ = true;
};

void expect_no_failures(const std::vector<std::string>& failures) {
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
}

TEST_F(CredentialRefresh, IrsaReadsAcrossSeveralExpiriesLoseNothing) {
  auto c = config(irsa());
  ASSERT_TRUE(c.ok()) << c.error().describe();
  ASSERT_NE(c->credential_provider, nullptr);
  auto failures = read_for(*c, kLifetime * 3);
  if (!failures.empty()) expect_no_failures(failures);
  EXPECT_GE(keys_.issued(), 3) << "the keys were not refreshed";
  EXPECT_TRUE(store_.refusals().empty())
      << "a request went out with expired keys: " << store_.refusals().front();
}

TEST_F(CredentialRefresh, RrsaUploadsAcrossSeveralExpiriesLoseNothing) {
  auto c = config(rrsa());
  ASSERT_TRUE(c.ok()) << c.error().describe();
  auto store = BlockingStore::open(kUri, *c);
  ASSERT_TRUE(store.ok());
  auto end = std::chrono::steady_clock::now() + kLifetime * 3;
  int n = 0;
  std::vector<std::string> failures;
  for (; std::chrono::steady_clock::now() < end; ++n) {
    auto put = store->put("up/" + std::to_string(n), Body::from_string(content_of(n)));
    if (!put.ok()) failures.push_back(put.error().describe());
    std::this_thread::sleep_for(10ms);
  }
  if (!failures.empty()) expect_no_failures(failures);
  for (int i = 0; i < n; ++i) EXPECT_EQ(store_.object("up/" + std::to_string(i)), content_of(i));
  EXPECT_GE(keys_.issued(), 3);
  EXPECT_TRUE(store_.refusals().empty());
}

TEST_F(CredentialRefresh, MetadataRolesReadAcrossExpiries) {
  auto imds = config({{"SHOAL_CREDENTIALS", "imds"},
                      {"AWS_EC2_METADATA_SERVICE_ENDPOINT", sts_.endpoint()}});
  ASSERT_TRUE(imds.ok()) << imds.error().describe();
  auto ecs = config({{"ALIBABA_CLOUD_ECS_METADATA", "shoal-test-role"},
                     {"SHOAL_METADATA_ENDPOINT", sts_.endpoint()}});
  ASSERT_TRUE(ecs.ok()) << ecs.error().describe();
  std::vector<std::string> failures;
  std::thread other([&] { failures = read_for(*ecs, kLifetime * 2, 1); });
  auto mine = read_for(*imds, kLifetime * 2, 1);
  other.join();
  mine.insert(mine.end(), failures.begin(), failures.end());
  if (!mine.empty()) expect_no_failures(mine);
  EXPECT_GE(keys_.issued(), 4);
}

// kubelet's layout: names -> ..data/<name>, ..data -> ..<version>, swapped atomically.
void publish_secret(const std::string& dir, const std::string& version, const Credentials& c) {
  std::string versioned = dir + "/.." + version;
  fs::create_directories(versioned);
  write_file(versioned + "/akId", c.access_key_id + "\n");
  write_file(versioned + "/akSecret", c.secret_access_key + "\n");
  std::string tmp = dir + "/..data_tmp";
  fs::remove(tmp);
  fs::create_symlink(".." + version, tmp);
  fs::rename(tmp, dir + "/..data");
  for (const char* name : {"akId", "akSecret"})
    if (!fs::is_symlink(dir + "/" + name))
      fs::create_symlink(std::string("..data/") + name, dir + "/" + name);
}

TEST_F(CredentialRefresh, ARotatedSecretDirectoryIsPickedUp) {
  std::string dir = tmp_.path() + "/secret";
  Credentials one{"LTAIsecretone", "secret-one", ""};
  Credentials two{"LTAIsecrettwo", "secret-two", ""};
  keys_.add_fixed(one);
  publish_secret(dir, "v1", one);
  auto c = config({{"SHOAL_CREDENTIALS_DIR", dir}});
  ASSERT_TRUE(c.ok()) << c.error().describe();
  std::vector<std::string> failures;
  std::thread reader([&] { failures = read_for(*c, 6s); });
  std::this_thread::sleep_for(2s);
  // The rotation: the new key works from now on, the old one stops working at once (the
  // harshest order; a request still signed with it is refused, refreshed and retried).
  keys_.add_fixed(two);
  publish_secret(dir, "v2", two);
  keys_.revoke(one.access_key_id);
  reader.join();
  if (!failures.empty()) expect_no_failures(failures);
  EXPECT_EQ(c->credential_provider->current()->access_key_id, two.access_key_id);
}

TEST_F(CredentialRefresh, AnStsOutageShorterThanTheValidityIsInvisible) {
  auto c = config(irsa());
  ASSERT_TRUE(c.ok()) << c.error().describe();
  // Down from the start until a refresh failed: the outage is surely seen by the refresh
  // thread (which refreshes these short-lived keys at half their life and retries with
  // backoff), and ends while the keys have a good part of their life left.
  sts_.set_down(true);
  std::thread outage([&] {
    auto limit = std::chrono::steady_clock::now() + kLifetime * 4;
    while (sts_.refused_while_down() < 1 && std::chrono::steady_clock::now() < limit)
      std::this_thread::sleep_for(10ms);
    sts_.set_down(false);
  });
  auto failures = read_for(*c, kLifetime * 2);
  outage.join();
  if (!failures.empty()) expect_no_failures(failures);
  EXPECT_GE(sts_.refused_while_down(), 1) << "the outage was never seen";
  EXPECT_GE(keys_.issued(), 2);
  EXPECT_TRUE(store_.refusals().empty());
}

TEST_F(CredentialRefresh, KeysThatExpiredWithStsGoneGiveAClearError) {
  expect_clean_log_ = false;  // the refresh thread logs why requests now fail
  auto c = config(irsa());
  ASSERT_TRUE(c.ok()) << c.error().describe();
  sts_.set_down(true);
  SystemTime expiry = *c->credential_provider->expiration();
  while (std::chrono::system_clock::now() < expiry + 500ms) std::this_thread::sleep_for(50ms);
  auto store = BlockingStore::open(kUri, *c);
  ASSERT_TRUE(store.ok());
  auto got = store->get(GetQuery{.key = "data/1"});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().kind, ErrorKind::kAccessDenied);
  EXPECT_EQ(got.error().code, "ExpiredToken");
  EXPECT_NE(got.error().describe().find("GetObject data/1"), std::string::npos);
  EXPECT_NE(got.error().describe().find("expired"), std::string::npos) << got.error().describe();
}

TEST_F(CredentialRefresh, BadTokensAndMalformedAnswersFailAtStartWithClearErrors) {
  write_file(token_file_, "header.not-the-token-sts-knows.signature");
  auto bad = config(irsa());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().describe().find("InvalidIdentityToken"), std::string::npos);
  EXPECT_EQ(bad.error().describe().find("not-the-token-sts-knows"), std::string::npos);
  write_file(token_file_, test::FakeCredentialServer::Options{}.oidc_token);
  sts_.set_malformed(true);
  auto malformed = config(rrsa());
  ASSERT_FALSE(malformed.ok());
  EXPECT_NE(malformed.error().describe().find("cannot read the answer"), std::string::npos);
  EXPECT_EQ(malformed.error().kind, ErrorKind::kServer);
}

// The real CLI, in a pod's environment with nothing but IRSA's variables: the chain is what
// every command uses.
TEST_F(CredentialRefresh, TheCliReadsWithWebIdentityAndPrintsNoSecret) {
  std::string env = "env -i PATH=/usr/bin:/bin HOME=" + tmp_.path() +
                    " AWS_ROLE_ARN=arn:aws:iam::123456789012:role/shoal" +
                    " AWS_WEB_IDENTITY_TOKEN_FILE=" + token_file_ +
                    " AWS_STS_ENDPOINT=" + sts_.endpoint() + " ";
  std::string shoal = std::string(SHOAL_BINARY_DIR) + "/tools/shoal";
  auto cat = test::run_command(env + shoal + " cat s3://bkt/data/3 --endpoint " +
                               store_.endpoint() + " --region us-east-1 2>&1");
  EXPECT_EQ(cat.exit_code, 0) << cat.output;
  EXPECT_EQ(cat.output, content_of(3));
  EXPECT_EQ(keys_.issued(), 1);
  write_file(token_file_, "header.a-token-sts-refuses.signature");
  auto refused = test::run_command(env + shoal + " cat s3://bkt/data/3 --endpoint " +
                                   store_.endpoint() + " --region us-east-1 2>&1");
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("InvalidIdentityToken"), std::string::npos) << refused.output;
  EXPECT_EQ(refused.output.find("a-token-sts-refuses"), std::string::npos) << refused.output;
}

}  // namespace
}  // namespace shoal
