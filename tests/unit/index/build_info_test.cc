#include "index/build_info.h"

#include <gtest/gtest.h>

namespace shoal::index {
namespace {

BuildInfo sample() {
  BuildInfo info;
  info.source = "oss://bucket/train/";
  info.prefix = "train/";
  info.built_unix = 1'700'000'000;
  info.objects = 12;
  info.files = 9;
  info.directories = 3;
  info.outside_prefix = 4;
  info.keep_mtime = true;
  info.skipped = {{SkipReason::kControlCharacter, std::string("train/a\x01" "b")},
                  {SkipReason::kFileDirConflict, "train/x"}};
  return info;
}

Result<BuildInfo> decode(const std::string& bytes) {
  return decode_build_info(std::span(bytes.data(), bytes.size()));
}

TEST(BuildInfo, RoundTripsEveryField) {
  auto decoded = decode(encode_build_info(sample()));
  ASSERT_TRUE(decoded.ok()) << decoded.error().describe();
  EXPECT_EQ(*decoded, sample());
}

TEST(BuildInfo, KeysWithAnyBytesSurvive) {
  BuildInfo info = sample();
  info.prefix = "";
  info.skipped = {{SkipReason::kEmptySegment, std::string("a\n\tb\0c", 6)}};
  auto decoded = decode(encode_build_info(info));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->skipped[0].key, std::string("a\n\tb\0c", 6));
  EXPECT_EQ(decoded->prefix, "");
}

TEST(BuildInfo, UnknownTagsAreSkipped) {
  std::string bytes = encode_build_info(sample());
  bytes += std::string("\x63\x00\x03\x00\x00\x00xyz", 9);  // tag 99, three bytes
  auto decoded = decode(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().describe();
  EXPECT_EQ(*decoded, sample());
}

TEST(BuildInfo, EveryTruncationIsRefusedOrLosesOnlyWholeTrailingRecords) {
  std::string bytes = encode_build_info(sample());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto decoded = decode(bytes.substr(0, n));
    if (decoded.ok()) {
      // A cut on a record boundary is a shorter valid list: the section checksum, not this
      // decoder, is what catches that in an index file.
      EXPECT_LE(decoded->skipped.size(), sample().skipped.size());
    } else {
      EXPECT_EQ(decoded.error().kind, ErrorKind::kCorrupt);
      EXPECT_NE(decoded.error().message.find("build-info"), std::string::npos);
    }
  }
  EXPECT_FALSE(decode("").ok()) << "an empty section has no source";
}

TEST(BuildInfo, BadRecordsAreRefusedSayingWhy) {
  std::string wide = encode_build_info(sample());
  // The "built" integer (tag 3) given four bytes instead of eight.
  std::string bad_int = std::string("\x01\x00\x00\x00\x00\x00", 6) +
                        std::string("\x02\x00\x00\x00\x00\x00", 6) +
                        std::string("\x03\x00\x04\x00\x00\x00" "abcd", 10);
  auto r = decode(bad_int);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("integer of 4 bytes"), std::string::npos) << r.error().message;

  std::string bad_reason = std::string("\x01\x00\x00\x00\x00\x00", 6) +
                           std::string("\x02\x00\x00\x00\x00\x00", 6) +
                           std::string("\x09\x00\x02\x00\x00\x00\x7fk", 8);
  r = decode(bad_reason);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("skip reason 127"), std::string::npos) << r.error().message;

  std::string past_end = wide + std::string("\x09\x00\xff\x00\x00\x00", 6);
  r = decode(past_end);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("runs past the section"), std::string::npos);
}

TEST(BuildInfo, DescribeListsCountsAndEverySkippedKey) {
  std::string text = describe(sample());
  EXPECT_NE(text.find("source: oss://bucket/train/\n"), std::string::npos) << text;
  EXPECT_NE(text.find("prefix: train/\n"), std::string::npos);
  EXPECT_NE(text.find("built: 2023-11-14T22:13:20Z\n"), std::string::npos) << text;
  EXPECT_NE(text.find("skipped: 2\n"), std::string::npos);
  EXPECT_NE(text.find("skipped: file-dir-conflict\ttrain/x\n"), std::string::npos);
}

}  // namespace
}  // namespace shoal::index
