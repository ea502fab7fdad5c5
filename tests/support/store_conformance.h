// The store conformance suite: one set of S3-semantics tests that every backend must pass.
// A backend joins by instantiating it in its own test file:
//
//   INSTANTIATE_TEST_SUITE_P(S3rver, StoreConformance,
//                            ::testing::Values(my_backend()), conformance_test_name);
//
// where my_backend() returns a ConformanceBackend whose `open` yields a fresh BlockingStore
// and an empty key prefix for each test. Known deviations of a backend are switched off
// with the flags of ConformanceBackend, each documented where the backend is instantiated.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "common/result.h"
#include "store/blocking_store.h"

namespace shoal {

struct ConformanceTarget {
  BlockingStore store;
  std::string prefix;             // empty of keys, ends in '/', never "" (see DESIGN.md)
  std::function<void()> cleanup;  // runs after the test, may be empty
};

// A backend and its known deviations from S3. Each switch below is named for one deviation
// and defaults to what S3 does; the instantiation that turns one off says why. Where a switch
// is off the suite checks what still holds rather than skipping the test. Everything else the
// backend advertises through ObjectStore::capabilities().
struct ConformanceBackend {
  std::string name;  // the instantiation's test-name suffix: letters, digits, '_'
  std::function<Result<ConformanceTarget>()> open;
  // Listings return keys in byte order, as S3 promises ("d0-side" before "d0/", '-' < '/').
  // false: the backend lists them in another order; the suite then compares the keys as a
  // set (a repeated or missing key still fails) and keeps every check on the pages.
  bool lists_in_byte_order = true;
  // Common prefixes count against max-keys, like keys. false: the backend ignores max-keys
  // for them; only the keys of each page are then held to max-keys.
  bool common_prefixes_count_toward_max_keys = true;
  // A key with an empty segment ("a//b") is stored. false: put fails with
  // empty_segment_put_error instead.
  bool keys_with_empty_segments = true;
  ErrorKind empty_segment_put_error = ErrorKind::kInvalidArgument;
  // A ranged GET of a 0-byte object answers kRangeNotSatisfiable, as S3 does.
  bool range_on_empty_object = true;
  // AbortMultipartUpload exists.
  bool abort_multipart = true;
  // The server answers ListParts whenever capabilities().list_parts says the protocol has it.
  // false: this server lacks the call although the protocol has it; list_parts must then
  // fail with kUnsupported (never hang, never return parts).
  bool serves_list_parts = true;
  // CompleteMultipartUpload answers with the new object's ETag. false: the answer's <ETag> is
  // empty (and no ETag header), so complete_multipart reports none; the suite then requires
  // it empty rather than wrong, and checks that HEAD and GET agree on the ETag instead.
  bool complete_multipart_reports_etag = true;
};

// Prints the backend's name (gtest would dump the struct's bytes).
void PrintTo(const ConformanceBackend& backend, std::ostream* out);

class StoreConformance : public ::testing::TestWithParam<ConformanceBackend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  BlockingStore& store() { return target_->store; }
  // The key `name` inside this test's private prefix.
  std::string key(std::string_view name) const { return target_->prefix + std::string(name); }
  const std::string& prefix() const { return target_->prefix; }

 private:
  std::optional<ConformanceTarget> target_;
};

std::string conformance_test_name(const ::testing::TestParamInfo<ConformanceBackend>& info);

}  // namespace shoal
