#include "tools/common/store_flags.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace shoal::cli {
namespace {

// Parses `args` (after the program name) with the store flags declared.
StoreFlagValues parse(std::vector<std::string> args) {
  CLI::App app;
  StoreFlagValues values;
  add_store_flags(app, values);
  std::vector<const char*> argv{"test"};
  for (const auto& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  return values;
}

TEST(StoreFlags, ParseIntoStoreFlags) {
  StoreFlagValues v = parse({"--endpoint", "http://127.0.0.1:9000", "--region", "us-east-1",
                             "--path-style", "--oss-v1"});
  StoreFlags f = to_store_flags(v, "/etc/shoal.toml");
  EXPECT_EQ(f.config_path, "/etc/shoal.toml");
  EXPECT_EQ(f.endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(f.region, "us-east-1");
  EXPECT_EQ(f.addressing, StoreConfig::Addressing::kPath);
  EXPECT_TRUE(f.oss_v1);
}

TEST(StoreFlags, NoneGivenLeavesEverythingToTheConfigAndEnvironment) {
  StoreFlags f = to_store_flags(parse({}), "");
  EXPECT_FALSE(f.endpoint.has_value());
  EXPECT_FALSE(f.region.has_value());
  EXPECT_FALSE(f.addressing.has_value());
  EXPECT_FALSE(f.oss_v1);
}

TEST(StoreFlags, PathStyleAndVirtualHostedExcludeEachOther) {
  EXPECT_THROW(parse({"--path-style", "--virtual-hosted"}), CLI::ExcludesError);
}

}  // namespace
}  // namespace shoal::cli
