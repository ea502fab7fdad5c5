// The store conformance suite on the s3:// backend against Ceph's RADOS Gateway: one private
// cluster per process (it takes ~1.5 s to bring up; ctest runs each test in a process of its
// own, a plain run of the binary shares one), each test in a fresh key prefix.
#include <atomic>
#include <memory>
#include <mutex>

#include "store/rest/rest_store.h"
#include "support/rgw.h"
#include "tests/support/store_conformance.h"

namespace shoal {
namespace {

constexpr const char* kBucket = "conformance";

// Started by the first test and killed at exit (the fixture's thread rule holds: gtest runs
// tests on the main thread); a cluster that would not come up fails every test with the same
// message instead of being retried.
Result<std::shared_ptr<Rgw>> shared_cluster() {
  static std::once_flag once;
  static std::optional<Result<std::shared_ptr<Rgw>>> cluster;
  std::call_once(once, [] {
    auto started = Rgw::start({kBucket});
    if (started.ok()) {
      cluster.emplace(std::shared_ptr<Rgw>(std::move(*started)));
    } else {
      cluster.emplace(started.error());
    }
  });
  return *cluster;
}

Result<ConformanceTarget> open_rgw() {
  static std::atomic<int> tests{0};
  SHOAL_ASSIGN(std::shared_ptr<Rgw> cluster, shared_cluster());
  StoreConfig config = cluster->config();
  ObjectUri uri{.scheme = ObjectUri::Scheme::kS3, .bucket = kBucket};
  SHOAL_ASSIGN(BlockingStore store, BlockingStore::wrap([&](Reactor& reactor) {
                 return make_rest_store(uri, config, reactor);
               }));
  return ConformanceTarget{std::move(store), "test-" + std::to_string(tests++) + "/", {}};
}

// RGW lists in byte order, counts common prefixes against max-keys, stores "a//b", has
// ListParts and AbortMultipartUpload: the suite holds it to S3 there. Its deviations:
ConformanceBackend rgw_backend() {
  ConformanceBackend b;
  b.name = "Rgw";
  b.open = open_rgw;
  // CompleteMultipartUpload answers <ETag></ETag> and no ETag header; HEAD and GET give the
  // S3 form ("<md5 of the parts' md5s>-3"). The client does not invent one.
  b.complete_multipart_reports_etag = false;
  // ListParts on an upload that is gone answers NoSuchKey where S3 says NoSuchUpload; both
  // are kNotFound, so the suite's check after an abort holds without a switch.
  return b;
}

INSTANTIATE_TEST_SUITE_P(Rgw, StoreConformance, ::testing::Values(rgw_backend()),
                         conformance_test_name);

}  // namespace
}  // namespace shoal
