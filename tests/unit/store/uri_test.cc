#include "store/uri.h"

#include <gtest/gtest.h>

namespace shoal {
namespace {

ObjectUri parsed(std::string_view text) {
  auto uri = parse_object_uri(text);
  EXPECT_TRUE(uri.ok()) << text << ": " << uri.error().describe();
  return uri.ok() ? *uri : ObjectUri{};
}

TEST(ParseObjectUri, BucketSchemesSplitBucketAndPrefix) {
  ObjectUri oss = parsed("oss://my-bucket/data/set/");
  EXPECT_EQ(oss.scheme, ObjectUri::Scheme::kOss);
  EXPECT_EQ(oss.bucket, "my-bucket");
  EXPECT_EQ(oss.prefix, "data/set/");

  ObjectUri s3 = parsed("s3://bucket.with.dots/key.bin");
  EXPECT_EQ(s3.scheme, ObjectUri::Scheme::kS3);
  EXPECT_EQ(s3.bucket, "bucket.with.dots");
  EXPECT_EQ(s3.prefix, "key.bin");

  EXPECT_EQ(parsed("s3://bucket").prefix, "");
  EXPECT_EQ(parsed("s3://bucket/").prefix, "");
  EXPECT_EQ(parsed("S3://bucket/k").scheme, ObjectUri::Scheme::kS3);
}

TEST(ParseObjectUri, PrefixIsTakenVerbatim) {
  EXPECT_EQ(parsed("s3://b/a%20b+c=d e").prefix, "a%20b+c=d e");
  EXPECT_EQ(parsed("oss://b/日本/x").prefix, "日本/x");
  EXPECT_EQ(parsed("s3://b/a//b").prefix, "a//b");
}

TEST(ParseObjectUri, FileUrisHaveNoBucketAndAbsoluteKeys) {
  ObjectUri f = parsed("file:///data/set");
  EXPECT_EQ(f.scheme, ObjectUri::Scheme::kFile);
  EXPECT_EQ(f.bucket, "");
  EXPECT_EQ(f.prefix, "data/set");
  EXPECT_EQ(parsed("file:///").prefix, "");
  EXPECT_EQ(parsed("file://localhost/tmp/x").prefix, "tmp/x");
}

TEST(ParseObjectUri, ToStringRoundTrips) {
  for (std::string_view text : {"oss://b/p/q", "s3://b/", "file:///tmp/a b/c", "file:///"}) {
    EXPECT_EQ(parsed(text).to_string(), text);
  }
  EXPECT_EQ(parsed("s3://b").to_string(), "s3://b/");
}

TEST(ParseObjectUri, BadUrisAreRefusedWithAReason) {
  struct Case {
    std::string_view text;
    std::string_view reason;  // a fragment of the message
  };
  for (const Case& c : std::initializer_list<Case>{
           {"", "empty"},
           {"oss://", "bucket name is empty"},
           {"s3:///key", "bucket name is empty"},
           {"s3://bu cket/key", "bucket name may hold only"},
           {"file://relative/dir", "absolute path"},
           {"file://dir", "absolute path"},
           {"/abs/path", "file:///abs/path"},
           {"bucket/key", "no scheme"},
           {"http://host/key", "unknown scheme 'http'"},
       }) {
    auto uri = parse_object_uri(c.text);
    ASSERT_FALSE(uri.ok()) << c.text;
    EXPECT_EQ(uri.error().kind, ErrorKind::kInvalidArgument) << c.text;
    EXPECT_NE(uri.error().message.find(c.reason), std::string::npos) << uri.error().message;
    EXPECT_NE(uri.error().message.find(std::string(c.text)), std::string::npos)
        << "the message names the URI: " << uri.error().message;
  }
}

}  // namespace
}  // namespace shoal
