#include "store/config.h"

#include <gtest/gtest.h>

#include <map>

namespace shoal {
namespace {

using Scheme = ObjectUri::Scheme;
constexpr std::string_view kSecret = "s3cr3t-value-never-printed";

EnvLookup fake_env(std::map<std::string, std::string, std::less<>> vars) {
  return environment_of(std::move(vars));
}

StoreFileSettings settings(std::string_view toml, Scheme scheme) {
  auto s = parse_store_settings(toml, "test.toml", scheme);
  EXPECT_TRUE(s.ok()) << s.error().describe();
  return s.ok() ? *s : StoreFileSettings{};
}

StoreConfig resolved(Scheme scheme, const StoreFlags& flags, const StoreFileSettings& file,
                     const EnvLookup& env) {
  auto c = resolve_store_config(scheme, flags, file, env);
  EXPECT_TRUE(c.ok()) << c.error().describe();
  return c.ok() ? *c : StoreConfig{};
}

TEST(ResolveStoreConfig, FlagsBeatTheFileWhichBeatsTheEnvironment) {
  auto env = fake_env({{"AWS_ENDPOINT_URL", "http://env:1"}, {"AWS_REGION", "env-region"}});
  StoreFileSettings file = settings(
      "[store]\nendpoint = \"http://file:2\"\nregion = \"file-region\"\n", Scheme::kS3);
  StoreFlags flags;
  flags.endpoint = "http://flag:3";
  flags.region = "flag-region";

  StoreConfig c = resolved(Scheme::kS3, flags, file, env);
  EXPECT_EQ(c.endpoint, "http://flag:3");
  EXPECT_EQ(c.region, "flag-region");

  c = resolved(Scheme::kS3, StoreFlags{}, file, env);
  EXPECT_EQ(c.endpoint, "http://file:2");
  EXPECT_EQ(c.region, "file-region");

  c = resolved(Scheme::kS3, StoreFlags{}, StoreFileSettings{}, env);
  EXPECT_EQ(c.endpoint, "http://env:1");
  EXPECT_EQ(c.region, "env-region");
}

TEST(ResolveStoreConfig, EachSettingFallsBackOnItsOwn) {
  auto env = fake_env({{"AWS_ENDPOINT_URL", "http://env:1"}, {"AWS_DEFAULT_REGION", "eu-west-3"}});
  StoreFlags flags;
  flags.region = "flag-region";
  StoreConfig c = resolved(Scheme::kS3, flags, StoreFileSettings{}, env);
  EXPECT_EQ(c.endpoint, "http://env:1");
  EXPECT_EQ(c.region, "flag-region");
  c = resolved(Scheme::kS3, StoreFlags{}, StoreFileSettings{}, env);
  EXPECT_EQ(c.region, "eu-west-3");
}

TEST(ResolveStoreConfig, S3DefaultsToAwsInUsEast1) {
  StoreConfig c = resolved(Scheme::kS3, StoreFlags{}, StoreFileSettings{}, fake_env({}));
  EXPECT_EQ(c.region, "us-east-1");
  EXPECT_EQ(c.endpoint, "https://s3.us-east-1.amazonaws.com");
  EXPECT_EQ(c.addressing, StoreConfig::Addressing::kAuto);
  EXPECT_TRUE(c.credentials.empty());
}

TEST(ResolveStoreConfig, OssEndpointIsDerivedFromTheRegion) {
  StoreFlags flags;
  flags.region = "cn-hangzhou";
  StoreConfig c = resolved(Scheme::kOss, flags, StoreFileSettings{}, fake_env({}));
  EXPECT_EQ(c.endpoint, "https://oss-cn-hangzhou.aliyuncs.com");
  EXPECT_EQ(c.region, "cn-hangzhou");

  StoreFileSettings internal = settings("[store]\ninternal = true\n", Scheme::kOss);
  c = resolved(Scheme::kOss, flags, internal, fake_env({}));
  EXPECT_EQ(c.endpoint, "https://oss-cn-hangzhou-internal.aliyuncs.com");

  c = resolved(Scheme::kOss, StoreFlags{}, StoreFileSettings{},
               fake_env({{"OSS_REGION", "oss-cn-beijing"}}));
  EXPECT_EQ(c.region, "cn-beijing") << "the console's oss- form is accepted";
  EXPECT_EQ(c.endpoint, "https://oss-cn-beijing.aliyuncs.com");
}

TEST(ResolveStoreConfig, OssRegionIsDerivedFromAnAliyunEndpoint) {
  auto env = fake_env({{"OSS_ENDPOINT", "oss-cn-shanghai-internal.aliyuncs.com"}});
  StoreConfig c = resolved(Scheme::kOss, StoreFlags{}, StoreFileSettings{}, env);
  EXPECT_EQ(c.endpoint, "https://oss-cn-shanghai-internal.aliyuncs.com");
  EXPECT_EQ(c.region, "cn-shanghai");
}

TEST(ResolveStoreConfig, OssWithoutRegionOrEndpointSaysWhatToSet) {
  auto c = resolve_store_config(Scheme::kOss, StoreFlags{}, StoreFileSettings{}, fake_env({}));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(c.error().message.find("--region"), std::string::npos);
  EXPECT_NE(c.error().message.find("OSS_REGION"), std::string::npos);

  StoreFlags custom;
  custom.endpoint = "http://127.0.0.1:9000";
  c = resolve_store_config(Scheme::kOss, custom, StoreFileSettings{}, fake_env({}));
  ASSERT_FALSE(c.ok()) << "V4 needs a region a custom endpoint cannot give";
  custom.oss_v1 = true;
  StoreConfig v1 = resolved(Scheme::kOss, custom, StoreFileSettings{}, fake_env({}));
  EXPECT_EQ(v1.oss_signature, StoreConfig::OssSignature::kV1);
  EXPECT_EQ(v1.endpoint, "http://127.0.0.1:9000");
}

TEST(NormalizeEndpoint, AddsHttpsAndDropsTrailingSlashes) {
  EXPECT_EQ(*normalize_endpoint("minio.local:9000"), "https://minio.local:9000");
  EXPECT_EQ(*normalize_endpoint("http://127.0.0.1:4568/"), "http://127.0.0.1:4568");
  EXPECT_FALSE(normalize_endpoint("ftp://host").ok());
  EXPECT_FALSE(normalize_endpoint("https://").ok());
}

TEST(ResolveStoreConfig, AddressingAndSignatureFlagsWin) {
  StoreFileSettings file =
      settings("[store]\naddressing = \"virtual-hosted\"\nsignature = \"v4\"\n"
               "region = \"cn-hangzhou\"\n",
               Scheme::kOss);
  StoreFlags flags;
  flags.addressing = StoreConfig::Addressing::kPath;
  flags.oss_v1 = true;
  StoreConfig c = resolved(Scheme::kOss, flags, file, fake_env({}));
  EXPECT_EQ(c.addressing, StoreConfig::Addressing::kPath);
  EXPECT_EQ(c.oss_signature, StoreConfig::OssSignature::kV1);
  c = resolved(Scheme::kOss, StoreFlags{}, file, fake_env({}));
  EXPECT_EQ(c.addressing, StoreConfig::Addressing::kVirtualHosted);
  EXPECT_EQ(c.oss_signature, StoreConfig::OssSignature::kV4);
}

TEST(ResolveStoreConfig, CredentialsComeFromTheSchemesVariables) {
  auto env = fake_env({{"OSS_ACCESS_KEY_ID", "LTAIoss"},
                       {"OSS_ACCESS_KEY_SECRET", std::string(kSecret)},
                       {"OSS_SESSION_TOKEN", "sts-token"},
                       {"AWS_ACCESS_KEY_ID", "AKIAaws"},
                       {"AWS_SECRET_ACCESS_KEY", "aws-secret"}});
  StoreFlags flags;
  flags.region = "cn-hangzhou";
  StoreConfig oss = resolved(Scheme::kOss, flags, StoreFileSettings{}, env);
  EXPECT_EQ(oss.credentials.access_key_id, "LTAIoss");
  EXPECT_EQ(oss.credentials.secret_access_key, kSecret);
  EXPECT_EQ(oss.credentials.session_token, "sts-token");
  StoreConfig s3 = resolved(Scheme::kS3, flags, StoreFileSettings{}, env);
  EXPECT_EQ(s3.credentials.access_key_id, "AKIAaws");
  EXPECT_EQ(s3.credentials.secret_access_key, "aws-secret");
  EXPECT_EQ(s3.credentials.session_token, "");
}

TEST(ResolveStoreConfig, ConfigFileCredentialsBeatTheEnvironment) {
  auto env = fake_env({{"AWS_ACCESS_KEY_ID", "AKIAenv"},
                       {"AWS_SECRET_ACCESS_KEY", "env-secret"},
                       {"MY_KEY", "AKIAnamed"},
                       {"MY_SECRET", std::string(kSecret)}});
  StoreFileSettings inline_keys = settings(
      "[store]\naccess_key_id = \"AKIAinline\"\nsecret_access_key = \"inline-secret\"\n",
      Scheme::kS3);
  StoreConfig c = resolved(Scheme::kS3, StoreFlags{}, inline_keys, env);
  EXPECT_EQ(c.credentials.access_key_id, "AKIAinline");
  EXPECT_EQ(c.credentials.secret_access_key, "inline-secret");

  StoreFileSettings named =
      settings("[store]\naccess_key_id_env = \"MY_KEY\"\nsecret_env = \"MY_SECRET\"\n",
               Scheme::kS3);
  c = resolved(Scheme::kS3, StoreFlags{}, named, env);
  EXPECT_EQ(c.credentials.access_key_id, "AKIAnamed");
  EXPECT_EQ(c.credentials.secret_access_key, kSecret);
}

TEST(ResolveStoreConfig, CredentialErrorsNameVariablesNeverSecrets) {
  StoreFileSettings named = settings(
      "[store]\naccess_key_id_env = \"MY_KEY\"\nsecret_env = \"UNSET_SECRET\"\n", Scheme::kS3);
  auto missing = resolve_store_config(Scheme::kS3, StoreFlags{}, named,
                                      fake_env({{"MY_KEY", std::string(kSecret)}}));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("UNSET_SECRET"), std::string::npos);
  EXPECT_EQ(missing.error().describe().find(kSecret), std::string::npos);

  auto half = resolve_store_config(Scheme::kS3, StoreFlags{}, StoreFileSettings{},
                                   fake_env({{"AWS_SECRET_ACCESS_KEY", std::string(kSecret)}}));
  ASSERT_FALSE(half.ok());
  EXPECT_NE(half.error().message.find("AWS_ACCESS_KEY_ID"), std::string::npos);
  EXPECT_EQ(half.error().describe().find(kSecret), std::string::npos);
}

TEST(ParseStoreSettings, SchemeTableOverlaysTheCommonOne) {
  std::string_view toml = R"(
[store]
region = "common"
retries = 3
connections = 16
[store.s3]
region = "s3-only"
addressing = "path"
[store.oss]
region = "oss-only"
[volume]
anything = "is left to its owner"
)";
  StoreFileSettings s3 = settings(toml, Scheme::kS3);
  EXPECT_EQ(s3.region, "s3-only");
  EXPECT_EQ(s3.addressing, StoreConfig::Addressing::kPath);
  EXPECT_EQ(s3.retries, 3);
  EXPECT_EQ(settings(toml, Scheme::kOss).region, "oss-only");

  StoreConfig c = resolved(Scheme::kS3, StoreFlags{}, s3, fake_env({}));
  EXPECT_EQ(c.retry.max_attempts, 3);
  EXPECT_EQ(c.max_connections, 16);
}

TEST(ParseStoreSettings, MistakesAreErrorsThatSayWhere) {
  struct Case {
    std::string_view toml;
    std::string_view fragment;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"[store]\nendpont = \"x\"\n", "[store] endpont: unknown setting"},
           {"[store]\nretries = \"five\"\n", "[store] retries: must be a positive integer"},
           {"[store]\nretries = 0\n", "positive integer"},
           {"[store]\naddressing = \"sideways\"\n", "\"virtual-hosted\""},
           {"[store.s3]\nverify_tls = 1\n", "[store.s3] verify_tls: must be true or false"},
           {"[store]\nregion = \n", "line 2"},
           {"store = 3\n", "must be a table"},
       }) {
    auto s = parse_store_settings(c.toml, "my.toml", Scheme::kS3);
    ASSERT_FALSE(s.ok()) << c.toml;
    EXPECT_EQ(s.error().kind, ErrorKind::kInvalidArgument);
    EXPECT_NE(s.error().message.find(c.fragment), std::string::npos) << s.error().message;
    EXPECT_TRUE(s.error().message.starts_with("my.toml")) << s.error().message;
  }
}

TEST(ParseStoreSettings, MissingConfigFileIsNotFound) {
  auto s = load_store_settings("/nonexistent/shoal.toml", Scheme::kS3);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kNotFound);
  EXPECT_NE(s.error().message.find("/nonexistent/shoal.toml"), std::string::npos);
}

TEST(ResolveStoreConfig, FileUrisNeedNoLocationOrKeys) {
  auto c = resolve_store_config(Scheme::kFile, StoreFlags{}, StoreFileSettings{}, fake_env({}));
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_TRUE(c->endpoint.empty());
  EXPECT_TRUE(c->credentials.empty());
}

}  // namespace
}  // namespace shoal
