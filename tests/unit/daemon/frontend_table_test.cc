// The transport table: names and attachments, settings that are well-formed and agree where
// two transports share a key or flag, the `volume` report's round trip, and what "auto" picks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <set>

#include "daemon/frontends/frontend.h"
#include "daemon/volume_report.h"

namespace shoal {
namespace {

TEST(FrontendTable, OneEntryPerTransport) {
  std::set<std::string_view> names;
  for (const FrontendType& type : frontend_types()) {
    EXPECT_TRUE(names.insert(type.name).second) << type.name;
    EXPECT_NE(type.make, nullptr) << type.name;
    EXPECT_NE(type.check, nullptr) << type.name;
    EXPECT_EQ(find_frontend_type(type.name), &type);
    EXPECT_EQ(type.image_dir_flag.empty(), type.attachment != Attachment::kImageFile) << type.name;
  }
  EXPECT_EQ(names, (std::set<std::string_view>{"fuse", "nbd", "ublk", "vhost-user-blk"}));
  EXPECT_EQ(find_frontend_type("floppy"), nullptr);
  EXPECT_EQ(find_frontend_type("fuse")->attachment, Attachment::kImageFile);
  EXPECT_EQ(find_frontend_type("ublk")->attachment, Attachment::kBlockDevice);
  EXPECT_EQ(find_frontend_type("nbd")->attachment, Attachment::kClient);
}

TEST(FrontendTable, SettingsAreWellFormedAndSharedOnesAgree) {
  std::map<std::string_view, FrontendSetting::Type> by_key, by_flag;
  for (const FrontendSettingRef& ref : all_frontend_settings()) {
    const FrontendSetting& s = *ref.setting;
    EXPECT_FALSE(s.toml_key.empty() && s.flag.empty()) << s.help;
    EXPECT_NE(s.apply, nullptr) << s.help;
    EXPECT_TRUE(s.flag.empty() || s.flag.starts_with("--")) << s.flag;
    if (s.type == FrontendSetting::Type::kInteger) {
      EXPECT_LT(s.min, s.max) << s.flag;
    }
    if (!s.toml_key.empty()) {
      auto [it, fresh] = by_key.emplace(s.toml_key, s.type);
      EXPECT_TRUE(fresh || it->second == s.type) << s.toml_key;
    }
    if (!s.flag.empty()) {
      auto [it, fresh] = by_flag.emplace(s.flag, s.type);
      EXPECT_TRUE(fresh || it->second == s.type) << s.flag;
    }
    EXPECT_NE(s.toml_key, "kind") << "kind names the transport itself";
  }
  EXPECT_TRUE(by_key.contains("ublk_depth"));
  EXPECT_TRUE(by_flag.contains("--ublk-recover-device"));
}

TEST(FrontendTable, SettingsLandInTheirTransportsOptions) {
  FrontendOptions o;
  for (const FrontendSettingRef& ref : all_frontend_settings()) {
    if (ref.setting->toml_key == "socket") ref.setting->apply(o, std::string("/run/x.sock"));
    if (ref.setting->toml_key == "port") ref.setting->apply(o, int64_t{10810});
    if (ref.setting->toml_key == "ublk_queues") ref.setting->apply(o, int64_t{3});
    if (ref.setting->flag == "--ublk-recover-device") ref.setting->apply(o, int64_t{2});
  }
  EXPECT_EQ(o.nbd.unix_socket, "/run/x.sock");
  EXPECT_EQ(o.vhost_user_blk.unix_socket, "/run/x.sock") << "both transports listen on `socket`";
  EXPECT_EQ(o.nbd.tcp_port, 10810);
  EXPECT_EQ(o.nbd.tcp_address, "127.0.0.1") << "a port alone means loopback";
  EXPECT_EQ(o.ublk.queues, 3);
  EXPECT_EQ(o.ublk.recover_device, 2);
  EXPECT_TRUE(o.ublk.user_recovery) << "recovering a device needs user recovery";
}

TEST(FrontendTable, AutoPicksUblkOnlyWhereItsControlDeviceExists) {
  FrontendOptions o;
  o.ublk.control_path = "/nonexistent/ublk-control";
  EXPECT_EQ(resolve_frontend_kind("auto", o), "fuse");
  o.ublk.control_path = "/dev/null";  // anything that exists
  EXPECT_EQ(resolve_frontend_kind("auto", o), "ublk");
  EXPECT_EQ(resolve_frontend_kind("nbd", o), "nbd");
  bool ublk = ::access("/dev/ublk-control", F_OK) == 0;
  EXPECT_EQ(resolve_frontend_kind("auto"), ublk ? "ublk" : "fuse");
}

TEST(FrontendTable, FuseNeedsAMountPointBeforeStarting) {
  FrontendOptions o;
  EXPECT_FALSE(find_frontend_type("fuse")->check(o).ok());
  o.fuse.mount_point = "/run/x";
  EXPECT_TRUE(find_frontend_type("fuse")->check(o).ok());
}

// The report as it travels: the reply fields on the control socket's wire.
std::string on_the_wire(const VolumeReport& report) {
  return encode_control_reply(format_volume_report(report));
}

Result<VolumeReport> parse_wire(const std::string& text) {
  auto reply = decode_control_reply(text);
  if (!reply.ok()) return std::move(reply).error();
  return parse_volume_report(*reply);
}

TEST(VolumeReport, RoundTripsEachAttachment) {
  VolumeReport image{"fuse", Attachment::kImageFile, "/run/shoal/a/image/image", 1 << 20, 42};
  std::string text = on_the_wire(image);
  EXPECT_TRUE(text.starts_with("ok\n")) << text;
  EXPECT_NE(text.find("\nattach image-file\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nimage /run/shoal/a/image/image\n"), std::string::npos) << text;
  auto parsed = parse_wire(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().describe();
  EXPECT_EQ(parsed->frontend, "fuse");
  EXPECT_EQ(parsed->attachment, Attachment::kImageFile);
  EXPECT_EQ(parsed->path, image.path);
  EXPECT_EQ(parsed->device_bytes, 1u << 20);
  EXPECT_EQ(parsed->pid, 42);

  VolumeReport device{"ublk", Attachment::kBlockDevice, "/dev/ublkb0", 4096, 7};
  text = on_the_wire(device);
  EXPECT_NE(text.find("\ndevice /dev/ublkb0\n"), std::string::npos) << text;
  parsed = parse_wire(text + "future_key some value\n");
  ASSERT_TRUE(parsed.ok()) << parsed.error().describe();
  EXPECT_EQ(parsed->path, "/dev/ublkb0");

  // A path with a space and a newline survives the field encoding.
  VolumeReport odd{"fuse", Attachment::kImageFile, "/run/shoal/a b/\nimage", 1, 2};
  parsed = parse_wire(on_the_wire(odd));
  ASSERT_TRUE(parsed.ok()) << parsed.error().describe();
  EXPECT_EQ(parsed->path, odd.path);

  parsed = parse_wire(on_the_wire({"nbd", Attachment::kClient, "", 0, 1}));
  ASSERT_TRUE(parsed.ok()) << parsed.error().describe();
  EXPECT_TRUE(parsed->path.empty());
}

TEST(VolumeReport, RefusesIncompleteReports) {
  EXPECT_FALSE(parse_wire("ok\n").ok());
  EXPECT_FALSE(parse_wire("ok\nfrontend fuse\n").ok());
  EXPECT_FALSE(parse_wire("ok\nfrontend fuse\nattach image-file\n").ok()) << "no image";
  EXPECT_FALSE(parse_wire("ok\nfrontend ublk\nattach block-device\nimage /x\n").ok())
      << "a block device must come as `device`";
  EXPECT_FALSE(parse_wire("ok\nfrontend x\nattach teleport\n").ok());
  EXPECT_FALSE(parse_wire("ok\nfrontend nbd\nattach client\npid x\n").ok());
}

}  // namespace
}  // namespace shoal
