#include "index/version_pin.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/small_index.h"
#include "support/temp_dir.h"

namespace shoal::index {
namespace {

// test::SmallIndex with "a" (5000 B, ETag "etag-a") and "b" (1 B) recorded without an ETag.
class VersionPin : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    test::SmallIndex small;
    small.objects[2].etag_length = 0;
    std::string path = dir_.path() + "/pin.shix";
    ASSERT_TRUE(write_index_file(path, small.contents()).ok());
    auto opened = IndexFile::open(path);
    ASSERT_TRUE(opened.ok()) << opened.error().describe();
    file_.emplace(std::move(*opened));
  }
  const ObjectRecord& a() const { return file_->objects()[0]; }
  const ObjectRecord& b() const { return file_->objects()[2]; }

  test::TempDir dir_{"shoal-version-pin"};
  std::optional<IndexFile> file_;
};

TEST_F(VersionPin, IfMatchCarriesTheIndexedEtagWhereTheStoreHonoursIt) {
  GetQuery pinned = pinned_get(*file_, a(), "p/a", ByteRange{10, 20}, true);
  EXPECT_EQ(pinned.key, "p/a");
  EXPECT_EQ(pinned.if_match, "etag-a");
  ASSERT_TRUE(pinned.range.has_value());
  EXPECT_EQ(pinned.range->offset, 10u);
  EXPECT_TRUE(pinned_get(*file_, a(), "p/a", ByteRange{0, 1}, false).if_match.empty());
}

TEST_F(VersionPin, TheIndexedVersionPasses) {
  ObjectInfo same;
  same.size = 5000;
  same.etag = "etag-a";
  EXPECT_FALSE(version_mismatch(*file_, a(), same).has_value());
  ObjectInfo any_etag;
  any_etag.size = 1;
  any_etag.etag = "whatever";  // no ETag recorded: the size alone pins
  EXPECT_FALSE(version_mismatch(*file_, b(), any_etag).has_value());
}

TEST_F(VersionPin, AnotherSizeOrEtagIsNamed) {
  ObjectInfo resized;
  resized.size = 4999;
  resized.etag = "etag-a";
  auto why = version_mismatch(*file_, a(), resized);
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(*why, "its size is 4999, the index says 5000");
  ObjectInfo rewritten;
  rewritten.size = 5000;
  rewritten.etag = "etag-z";
  why = version_mismatch(*file_, a(), rewritten);
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(*why, "its ETag is 'etag-z', the index says 'etag-a'");
}

TEST(VersionPinErrors, FailedIfMatchGoneOrShortenedMeanChanged) {
  EXPECT_TRUE(means_changed(ErrorKind::kPreconditionFailed));
  EXPECT_TRUE(means_changed(ErrorKind::kNotFound));
  EXPECT_TRUE(means_changed(ErrorKind::kRangeNotSatisfiable));
  EXPECT_FALSE(means_changed(ErrorKind::kNetwork));
  EXPECT_FALSE(means_changed(ErrorKind::kThrottled));
}

}  // namespace
}  // namespace shoal::index
