// The store conformance suite: one set of S3-semantics tests that every backend must pass.
// A backend joins by instantiating it in its own test file:
//
//   INSTANTIATE_TEST_SUITE_P(S3rver, StoreConformance,
//                            ::testing::Values(my_backend()), conformance_test_name);
//
// where my_backend() returns a ConformanceBackend whose `open` yields a fresh BlockingStore
// and an empty key prefix for each test. Known deviations of a backend are switched off
// with the flags below, each documented where the backend is instantiated; everything else
// the backend advertises through ObjectStore::capabilities().
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>

#include "common/result.h"
#include "store/blocking_store.h"

namespace shoal {

struct ConformanceTarget {
  BlockingStore store;
  std::string prefix;             // empty of keys, ends in '/', never "" (see DESIGN.md)
  std::function<void()> cleanup;  // runs after the test, may be empty
};

struct ConformanceBackend {
  std::string name;  // the instantiation's test-name suffix: letters, digits, '_'
  std::function<Result<ConformanceTarget>()> open;
  // A key with an empty segment ("a//b") is stored. false: put refuses it with
  // kInvalidArgument (file://, where a key is a path).
  bool keys_with_empty_segments = true;
  // A ranged GET of a 0-byte object answers kRangeNotSatisfiable, as S3 does.
  bool range_on_empty_object = true;
  // AbortMultipartUpload exists.
  bool abort_multipart = true;
};

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
