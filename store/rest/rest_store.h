// oss:// and s3:// — one ObjectStore over the S3 / OSS REST APIs. The two dialects share
// requests, XML and retries; they differ in signing (SigV4 / OSS V4 / OSS V1), header prefix
// (x-amz- / x-oss-), request-id header, OSS's `x-oss-range-behavior: standard` on ranged
// GETs, CRC-64 checks (x-oss-hash-crc64ecma; S3 PUTs carry Content-MD5 instead) and
// AppendObject (OSS only: S3 answers kUnsupported).
//
// Addressing: virtual-hosted (bucket.host/key) by default; path style (host/bucket/key) when
// the endpoint host is an IP address or localhost, or when the config forces it.
//
// Every request is retried per store/retry.h and re-signed on each attempt; errors are typed
// and name the operation and key. Destroying the store drops the callbacks of operations in
// flight (they are never invoked); it must not be destroyed from inside an HttpClient callback
// other than the operation's own Done.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>

#include "store/http/http_client.h"
#include "store/object_store.h"
#include "store/rest/rest_call.h"
#include "store/sign/signer.h"
#include "store/store_config.h"

namespace shoal {

class RestStore final : public ObjectStore {
 public:
  // uri.scheme must be kOss or kS3. Fails (kInvalidArgument) on a missing bucket, a malformed
  // endpoint, or an OSS V4 setup without a region.
  static Result<std::unique_ptr<RestStore>> create(const ObjectUri& uri, const StoreConfig& config,
                                                   Reactor& reactor);
  ~RestStore() override;

  Capabilities capabilities() const override;
  std::string describe() const override;

  void list(ListQuery query, Done<ListPage> done) override;
  void head(std::string key, Done<ObjectInfo> done) override;
  void get(GetQuery query, Done<GetReply> done) override;
  void put(std::string key, Body body, Done<PutReply> done) override;
  void remove(std::string key, Done<void> done) override;

  void create_multipart(std::string key, Done<std::string> done) override;
  void upload_part(std::string key, std::string upload_id, int number, Body body,
                   Done<PartInfo> done) override;
  void complete_multipart(std::string key, std::string upload_id, std::vector<PartInfo> parts,
                          Done<PutReply> done) override;
  void abort_multipart(std::string key, std::string upload_id, Done<void> done) override;
  void list_parts(std::string key, std::string upload_id,
                  Done<std::vector<PartInfo>> done) override;

  void append(std::string key, uint64_t position, Body body, Done<PutReply> done) override;

  // HTTP requests sent so far, retries included: a metric, and how tests prove a failure was
  // not retried.
  uint64_t requests_sent() const { return client_->requests_sent(); }

 private:
  struct Setup;
  RestStore(Setup setup, Reactor& reactor, std::unique_ptr<HttpClient> client);

  bool oss() const { return scheme_ == ObjectUri::Scheme::kOss; }
  HttpRequest request(std::string method, std::string path) const;
  std::string object_path(const std::string& key) const;
  std::string bucket_path() const;

  template <class T, class Parse>
  void run(HttpRequest request, std::string what, Done<T> done, Parse parse,
           RestCall::Check check = {});
  template <class T>
  void fail_later(Done<T> done, Error error);
  // Content-MD5 (S3) or the local CRC-64 to compare with the answer's (OSS).
  Result<std::optional<uint64_t>> prepare_upload(HttpRequest& request, const Body& body) const;
  RestCall::Check crc_check(std::optional<uint64_t> expected, std::string what) const;
  void list_parts_from(std::string key, std::string upload_id, int marker,
                       std::vector<PartInfo> so_far, Done<std::vector<PartInfo>> done);

  ObjectUri::Scheme scheme_;
  std::string bucket_;
  std::string endpoint_scheme_;  // "http" / "https"
  std::string endpoint_host_;    // host[:port] of the endpoint, without the bucket
  bool path_style_ = false;
  std::unique_ptr<Signer> signer_;
  RetryPolicy retry_;
  Reactor& reactor_;
  std::mt19937_64 rng_;  // seeds each call's backoff jitter
  uint64_t next_call_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<RestCall>> calls_;
  std::unique_ptr<HttpClient> client_;
  RestCallEnv env_;
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

// The factory open_store() calls for oss:// and s3:// URIs.
Result<std::unique_ptr<ObjectStore>> make_rest_store(const ObjectUri& uri,
                                                     const StoreConfig& config, Reactor& reactor);

}  // namespace shoal
