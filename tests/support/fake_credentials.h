// Credentials that expire in seconds, for the refresh tests: a table of issued keys, the fake
// services that issue them (AWS STS AssumeRoleWithWebIdentity, Alibaba STS AssumeRoleWithOIDC,
// the ECS RAM role and EC2 IMDSv2 metadata services, all on one loopback HttpTestServer), and
// a store that checks every request's SigV4 signature with the project's own signing code
// and accepts only keys the table holds and that have not expired (s3rver checks none).
//
// The fake services answer in the services' documented formats; they check what a real one
// would refuse (the OIDC token, the IMDS session token) so a wrong request fails here too.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/credentials.h"
#include "tests/support/http_test_server.h"

namespace shoal::test {

using SystemTime = std::chrono::system_clock::time_point;

class IssuedKeys {
 public:
  // A fresh key set valid for `lifetime` (rounded down to whole seconds, as STS answers).
  Credentials issue(std::chrono::seconds lifetime, SystemTime* expiration);
  // Keys that never expire (a Secret's long-lived AK, or the first version of one).
  void add_fixed(const Credentials& keys);
  void revoke(const std::string& access_key_id);

  enum class Verdict { kValid, kUnknown, kExpired, kBadToken };
  // kValid fills `secret`.
  Verdict check(const std::string& access_key_id, const std::string& session_token,
                std::string* secret) const;
  int issued() const;

 private:
  struct Entry {
    Credentials keys;
    std::optional<SystemTime> expiration;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  int issued_ = 0;
};

class FakeCredentialServer {
 public:
  struct Options {
    std::chrono::seconds lifetime{6};
    std::string oidc_token = "header.good-oidc-token-for-tests.signature";
    std::string role = "shoal-test-role";
  };
  FakeCredentialServer(IssuedKeys& keys, Options options);

  std::string endpoint() const { return server_->endpoint(); }
  // Every request answers 503 (an outage) while set.
  void set_down(bool down) { down_ = down; }
  // Credential answers are 200 with a body that is not the format while set.
  void set_malformed(bool malformed) { malformed_ = malformed; }
  int credentials_issued() const { return issued_.load(); }
  int refused_while_down() const { return refused_while_down_.load(); }
  std::vector<HttpTestServer::Request> received() { return server_->received(); }

 private:
  HttpTestServer::Reply handle(const HttpTestServer::Request& r);

  IssuedKeys& keys_;
  Options options_;
  std::atomic<bool> down_{false};
  std::atomic<bool> malformed_{false};
  std::atomic<int> issued_{0};
  std::atomic<int> refused_while_down_{0};
  std::unique_ptr<HttpTestServer> server_;  // last: its threads use the members above
};

// Path-style S3 (bucket "bkt"), objects in memory: GET (whole, or one "bytes=a-[b]" range;
// If-Match honoured), HEAD, PUT. Every
// request must carry a SigV4 Authorization header that verifies with a key of `keys`; others
// get S3's 403 answers (InvalidAccessKeyId, ExpiredToken, InvalidToken, SignatureDoesNotMatch).
class VerifyingStore {
 public:
  explicit VerifyingStore(IssuedKeys& keys, std::string region = "us-east-1");

  std::string endpoint() const { return server_->endpoint(); }
  void put_object(const std::string& key, std::string bytes);
  std::optional<std::string> object(const std::string& key) const;
  int accepted() const { return accepted_.load(); }
  // The codes of refused requests, in order.
  std::vector<std::string> refusals() const;

 private:
  HttpTestServer::Reply handle(const HttpTestServer::Request& r);
  HttpTestServer::Reply refuse(const std::string& code, const std::string& message);

  IssuedKeys& keys_;
  std::string region_;
  mutable std::mutex mu_;
  std::map<std::string, std::string> objects_;
  std::vector<std::string> refusals_;
  std::atomic<int> accepted_{0};
  std::unique_ptr<HttpTestServer> server_;
};

}  // namespace shoal::test
