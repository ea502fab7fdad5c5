// The typed spec turned into shoald's command line, and the health of a recorded volume from
// what was found out about it.
#include <gtest/gtest.h>

#include <algorithm>

#include "mount/volume.h"

namespace shoal::mount {
namespace {

// The value after `flag`, "" when the flag is absent; "<flag>" when it is the last word.
std::string after(const std::vector<std::string>& args, const std::string& flag) {
  auto it = std::find(args.begin(), args.end(), flag);
  if (it == args.end()) return "";
  return ++it == args.end() ? "<flag>" : *it;
}

bool has(const std::vector<std::string>& args, const std::string& word) {
  return std::find(args.begin(), args.end(), word) != args.end();
}

LaunchPlan plan_for(std::string_view frontend) {
  LaunchPlan plan;
  plan.state_dir = "/run/shoal/abc";
  plan.state.mountpoint = "/mnt/train";
  plan.state.index = "/var/lib/shoal/x.shix";
  plan.state.frontend = std::string(frontend);
  plan.state.attachment = find_frontend_type(frontend)->attachment;
  lay_out_state(plan);
  return plan;
}

const FrontendSetting* setting_with_flag(std::string_view flag) {
  for (const FrontendSettingRef& ref : all_frontend_settings())
    if (ref.setting->flag == flag) return ref.setting;
  return nullptr;
}

TEST(ShoaldArgs, MinimalSpecForAnImageFileTransport) {
  VolumeSpec spec;
  spec.source = "/data/x.shix";
  spec.shoald = "/usr/bin/shoald";
  LaunchPlan plan = plan_for("fuse");
  std::vector<std::string> args = shoald_args(spec, plan);
  ASSERT_FALSE(args.empty());
  EXPECT_EQ(args[0], "/usr/bin/shoald");
  EXPECT_EQ(after(args, "--index"), "/var/lib/shoal/x.shix");
  EXPECT_EQ(after(args, "--frontend"), "fuse");
  EXPECT_EQ(after(args, "--control"), "/run/shoal/abc/control.sock");
  EXPECT_EQ(after(args, "--pid-file"), "/run/shoal/abc/shoald.pid");
  EXPECT_EQ(after(args, "--ready-fd"), "3");
  EXPECT_EQ(after(args, "--mountpoint"), "/run/shoal/abc/image") << "the private image directory";
  EXPECT_EQ(plan.state.log, "/run/shoal/abc/shoald.log");
  for (const char* absent :
       {"--source", "--config", "--cache-memory", "--prefetch", "--metrics", "--endpoint",
        "--region", "--path-style", "--virtual-hosted", "--oss-v1", "--ublk-queues"})
    EXPECT_FALSE(has(args, absent)) << absent << " was not asked for";
}

TEST(ShoaldArgs, EveryTypedFieldBecomesItsFlag) {
  VolumeSpec spec;
  spec.source = "s3://bucket/train/";
  spec.config = "/etc/shoal/train.toml";
  spec.cache_memory = 4ull << 30;
  spec.prefetch = PrefetchMode::kNone;
  spec.metrics = "unix:/run/m.sock";
  spec.store.endpoint = "http://127.0.0.1:9000";
  spec.store.region = "us-east-1";
  spec.store.addressing = StoreConfig::Addressing::kPath;
  spec.store.oss_v1 = true;
  const FrontendSetting* queues = setting_with_flag("--ublk-queues");
  const FrontendSetting* recovery = setting_with_flag("--ublk-user-recovery");
  ASSERT_NE(queues, nullptr);
  ASSERT_NE(recovery, nullptr);
  spec.frontend_settings.push_back({queues, int64_t{4}});
  spec.frontend_settings.push_back({recovery, true});
  LaunchPlan plan = plan_for("ublk");
  plan.index_built = true;
  std::vector<std::string> args = shoald_args(spec, plan);
  EXPECT_EQ(after(args, "--source"), "s3://bucket/train/");
  EXPECT_EQ(after(args, "--config"), "/etc/shoal/train.toml");
  EXPECT_EQ(after(args, "--cache-memory"), std::to_string(4ull << 30));
  EXPECT_EQ(after(args, "--prefetch"), "none");
  EXPECT_EQ(after(args, "--metrics"), "unix:/run/m.sock");
  EXPECT_EQ(after(args, "--endpoint"), "http://127.0.0.1:9000");
  EXPECT_EQ(after(args, "--region"), "us-east-1");
  EXPECT_TRUE(has(args, "--path-style"));
  EXPECT_FALSE(has(args, "--virtual-hosted"));
  EXPECT_TRUE(has(args, "--oss-v1"));
  EXPECT_EQ(after(args, "--ublk-queues"), "4");
  EXPECT_TRUE(has(args, "--ublk-user-recovery"));
  EXPECT_FALSE(has(args, "--mountpoint")) << "a block-device transport has no image directory";
  EXPECT_TRUE(plan.state.image_dir.empty());
}

TEST(ShoaldArgs, SettingsTextIsCheckedAgainstTheTable) {
  const FrontendSetting* depth = setting_with_flag("--ublk-depth");
  ASSERT_NE(depth, nullptr);
  auto ok = parse_setting_text(*depth, "64");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(std::get<int64_t>(*ok), 64);
  EXPECT_FALSE(parse_setting_text(*depth, "0").ok());
  EXPECT_FALSE(parse_setting_text(*depth, "4097").ok());
  EXPECT_FALSE(parse_setting_text(*depth, "12x").ok());
  EXPECT_EQ(format_setting_value(*ok), "64");
}

TEST(VolumeHealth, StaleRecordsAreToldApart) {
  EXPECT_EQ(assess(true, true), VolumeHealth::kServing);
  EXPECT_EQ(assess(false, true), VolumeHealth::kDaemonDead);
  EXPECT_EQ(assess(false, false), VolumeHealth::kDaemonDead);
  EXPECT_EQ(assess(true, false), VolumeHealth::kNotMounted);
  EXPECT_EQ(to_string(VolumeHealth::kDaemonDead), "daemon-dead");
}

}  // namespace
}  // namespace shoal::mount
