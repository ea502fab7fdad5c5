#include "common/result.h"

#include <gtest/gtest.h>

namespace shoal {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return Error(ErrorKind::kInvalidArgument, "not positive: " + std::to_string(v));
  return v;
}

Result<int> doubled(int v) {
  SHOAL_ASSIGN(int x, parse_positive(v));
  return 2 * x;
}

TEST(Result, CarriesValueOrError) {
  EXPECT_EQ(*doubled(4), 8);
  auto bad = doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(bad.error().describe(), "invalid argument: not positive: -1");
}

TEST(Error, DescribeNamesCodeStatusAndRequest) {
  Error e(ErrorKind::kNotFound, "GET data/a.bin");
  e.code = "NoSuchKey";
  e.http_status = 404;
  e.request_id = "ABC";
  EXPECT_EQ(e.describe(), "not found: GET data/a.bin (NoSuchKey, HTTP 404, request ABC)");
  EXPECT_EQ(e.with_context("reading x").message, "reading x: GET data/a.bin");
}

}  // namespace
}  // namespace shoal
