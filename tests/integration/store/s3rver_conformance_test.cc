// The store conformance suite on the s3:// backend against s3rver, a fresh server per test.
#include "store/rest/rest_store.h"
#include "support/s3rver.h"
#include "tests/support/store_conformance.h"

namespace shoal {
namespace {

constexpr const char* kBucket = "conformance";

Result<ConformanceTarget> open_s3rver() {
  SHOAL_ASSIGN(std::shared_ptr<S3rver> server, S3rver::start({kBucket}));
  StoreConfig config = server->config();
  ObjectUri uri{.scheme = ObjectUri::Scheme::kS3, .bucket = kBucket};
  SHOAL_ASSIGN(BlockingStore store, BlockingStore::wrap([&](Reactor& reactor) {
                 return make_rest_store(uri, config, reactor);
               }));
  // s3rver gets no CommonPrefixes right for an empty prefix, so every test works below one.
  return ConformanceTarget{std::move(store), "conformance-test/", [server] { server->stop(); }};
}

// s3rver 3.7.1's deviations from S3, each checked by the suite in the form it takes here
// (DESIGN.md lists them; the s3:// client is not bent to any of them).
ConformanceBackend s3rver_backend() {
  ConformanceBackend b;
  b.name = "S3rver";
  b.open = open_s3rver;
  // It lists by walking its directory tree, so "d0/k000" comes before "d0-side", which byte
  // order puts first ('-' < '/').
  b.lists_in_byte_order = false;
  // With a delimiter it puts every common prefix on the first page, whatever max-keys says;
  // S3 counts them against max-keys.
  b.common_prefixes_count_toward_max_keys = false;
  // Its router cannot address a key with an empty segment: PUT "a//b" answers 404 with no
  // error body.
  b.keys_with_empty_segments = false;
  b.empty_segment_put_error = ErrorKind::kNotFound;
  // A ranged GET of a 0-byte object is broken.
  b.range_on_empty_object = false;
  // No AbortMultipartUpload, and no ListParts (405 MethodNotAllowed) although S3 has both:
  // capabilities() keep describing S3.
  b.abort_multipart = false;
  b.serves_list_parts = false;
  // Its multipart ETag is the MD5 of the whole object, not S3's MD5 of the parts' MD5s with
  // "-<parts>"; the suite checks only that the ETag is consistent, so no switch is needed.
  return b;
}

INSTANTIATE_TEST_SUITE_P(S3rver, StoreConformance, ::testing::Values(s3rver_backend()),
                         conformance_test_name);

}  // namespace
}  // namespace shoal
