#include "writer/retention.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace shoal {
namespace {

const std::regex kPattern(R"(model\.ckpt-(\d+))");

std::vector<std::string> generation_files(std::vector<int> gens) {
  std::vector<std::string> out;
  for (int g : gens) {
    out.push_back("model.ckpt-" + std::to_string(g) + ".data");
    out.push_back("model.ckpt-" + std::to_string(g) + ".index");
  }
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(Retention, GenerationsCompareNumerically) {
  EXPECT_TRUE(generation_older("9", "10"));
  EXPECT_TRUE(generation_older("0099", "100"));
  EXPECT_FALSE(generation_older("100", "99"));
  EXPECT_TRUE(generation_older("a", "b"));
  EXPECT_EQ(generation_of(kPattern, "sub/model.ckpt-1200.index"), "1200");
  EXPECT_EQ(generation_of(kPattern, "notes.txt"), "");
}

TEST(Retention, KeepsTheNewestCompleteGenerationsAndLeavesOtherKeys) {
  auto keys = generation_files({8, 9, 10, 11});
  keys.push_back("notes.txt");
  auto doomed = plan_retention(keys, kPattern, 2, {});
  EXPECT_EQ(sorted(doomed), sorted(generation_files({8, 9})));
}

TEST(Retention, NeverDeletesBeforeNewerGenerationsAreComplete) {
  auto keys = generation_files({1, 2, 3});
  // Generation 3 is still uploading: 2 and 1 are the two newest complete ones.
  EXPECT_TRUE(plan_retention(keys, kPattern, 2, {"3"}).empty());
  EXPECT_EQ(sorted(plan_retention(keys, kPattern, 1, {"3"})), sorted(generation_files({1})));
  // Fewer complete generations than asked for: nothing goes.
  EXPECT_TRUE(plan_retention(keys, kPattern, 5, {}).empty());
}

}  // namespace
}  // namespace shoal
