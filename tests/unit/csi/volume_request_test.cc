// The CSI request rules (csi/volume_request.h): capabilities, attributes, secrets, and the
// volume config they become, which must never let a secret into a message.
#include "csi/volume_request.h"

#include <gtest/gtest.h>

#include "daemon/volume_config.h"

namespace shoal::csi {
namespace {

constexpr int kSingleNodeWriter = 1, kSingleNodeReaderOnly = 2, kMultiNodeReaderOnly = 3,
              kMultiNodeMultiWriter = 5, kSingleNodeSingleWriter = 6;

Capability mount_mode(int mode) { return Capability{true, false, mode, true}; }

TEST(CsiCapability, ReaderOnlyModesOnAFileSystemAreAccepted) {
  EXPECT_TRUE(check_capability(mount_mode(kMultiNodeReaderOnly)).ok());
  EXPECT_TRUE(check_capability(mount_mode(kSingleNodeReaderOnly)).ok());
}

TEST(CsiCapability, WritersBlockAndMissingCapabilitiesAreRefused) {
  for (int mode : {kSingleNodeWriter, kMultiNodeMultiWriter, kSingleNodeSingleWriter, 4, 7}) {
    Status s = check_capability(mount_mode(mode));
    ASSERT_FALSE(s.ok()) << mode;
    EXPECT_EQ(s.error().kind, ErrorKind::kInvalidArgument);
    EXPECT_NE(s.error().message.find("shoal writer"), std::string::npos) << s.error().message;
  }
  Status block = check_capability(Capability{true, true, kMultiNodeReaderOnly, true});
  ASSERT_FALSE(block.ok());
  EXPECT_NE(block.error().message.find("shoal writer"), std::string::npos);
  EXPECT_FALSE(check_capability(Capability{}).ok());
  EXPECT_FALSE(check_capability(Capability{true, false, 0, false}).ok());
}

TEST(CsiVolumeRequest, AckAttributesBecomeAnOssSourceAndStoreSettings) {
  auto r = parse_volume_request({{"bucket", "train-data"},
                                 {"url", "oss-cn-hangzhou-internal.aliyuncs.com"},
                                 {"path", "/tf-train/train/data"},
                                 {"csi.storage.k8s.io/pod.name", "p"}},
                                {{"akId", "ID"}, {"akSecret", "SECRET-VALUE"}});
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->source, "oss://train-data/tf-train/train/data/");
  EXPECT_EQ(r->bucket, "train-data");
  ASSERT_TRUE(r->credentials);
  EXPECT_EQ(r->credentials->access_key_secret, "SECRET-VALUE");
  // The config is one shoald and mount/ accept as it is.
  auto config = parse_volume_config(r->config_toml, "volume.toml");
  ASSERT_TRUE(config.ok()) << config.error().describe() << "\n" << r->config_toml;
  EXPECT_NE(r->config_toml.find("access_key_secret"), std::string::npos);
  EXPECT_NE(r->config_toml.find("oss-cn-hangzhou-internal.aliyuncs.com"), std::string::npos);
}

TEST(CsiVolumeRequest, ShoalsOwnAttributes) {
  auto r = parse_volume_request({{"bucket", "b"},
                                 {"protocol", "s3"},
                                 {"url", "http://127.0.0.1:9000"},
                                 {"region", "us-east-1"},
                                 {"cacheMemory", "512MiB"},
                                 {"prefetch", "none"},
                                 {"frontend", "fuse"},
                                 {"rps", "200"},
                                 {"hints", "/etc/shoal/hints.txt"},
                                 {"index", "s3://b/indexes/train.shix"}},
                                {});
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->source, "s3://b/indexes/train.shix");
  EXPECT_EQ(r->cache_memory, 512ull << 20);
  EXPECT_EQ(r->prefetch, PrefetchMode::kNone);
  EXPECT_EQ(r->frontend, "fuse");
  EXPECT_FALSE(r->credentials);
  auto config = parse_volume_config(r->config_toml, "volume.toml");
  ASSERT_TRUE(config.ok()) << config.error().describe() << "\n" << r->config_toml;
  EXPECT_EQ(config->hints_file, "/etc/shoal/hints.txt");
}

TEST(CsiVolumeRequest, DefaultsAndPrefixes) {
  auto r = parse_volume_request({{"bucket", "b"}}, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->source, "s3://b/");
  auto p = parse_volume_request({{"bucket", "b"}, {"path", "a/b/"}, {"protocol", "oss"}}, {});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->source, "oss://b/a/b/");
}

TEST(CsiVolumeRequest, BadAttributesAreInvalidArguments) {
  std::vector<StringMap> bad = {
      {},                                           // no bucket
      {{"bucket", "b"}, {"colour", "blue"}},        // unknown attribute
      {{"bucket", "b/c"}},                          // a prefix in the bucket
      {{"bucket", "b"}, {"protocol", "ftp"}},
      {{"bucket", "b"}, {"cacheMemory", "lots"}},
      {{"bucket", "b"}, {"prefetch", "sometimes"}},
      {{"bucket", "b"}, {"rps", "-3"}},
      {{"bucket", "b"}, {"rps", "fast"}},
      {{"bucket", "b"}, {"hints", "relative.txt"}},
      {{"bucket", "b"}, {"index", "not-a-uri"}},
  };
  for (const StringMap& attributes : bad) {
    auto r = parse_volume_request(attributes, {});
    ASSERT_FALSE(r.ok()) << (attributes.empty() ? "" : attributes.rbegin()->first);
    EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
  }
}

TEST(CsiVolumeRequest, SecretsAreCheckedWithoutEverQuotingAValue) {
  const std::string secret = "sEcReT-VaLuE-42";
  std::vector<StringMap> bad = {
      {{"akId", "ID"}},                                        // no secret
      {{"akSecret", secret}},                                  // no id
      {{"akId", "ID"}, {"akSecret", secret}, {"token", secret}},  // unknown key
  };
  for (const StringMap& secrets : bad) {
    auto r = parse_volume_request({{"bucket", "b"}}, secrets);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
    EXPECT_EQ(r.error().describe().find(secret), std::string::npos) << r.error().describe();
  }
  auto aws = parse_secrets(
      {{"AWS_ACCESS_KEY_ID", "A"}, {"AWS_SECRET_ACCESS_KEY", "S"}, {"AWS_SESSION_TOKEN", "T"}});
  ASSERT_TRUE(aws.ok());
  ASSERT_TRUE(*aws);
  EXPECT_EQ((*aws)->session_token, "T");
}

}  // namespace
}  // namespace shoal::csi
