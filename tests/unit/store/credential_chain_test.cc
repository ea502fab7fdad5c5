// The credential chain's order and each source's parsing: Secret directories in all three
// naming styles and kubelet's ..data swap, AWS profiles, the STS and metadata answers
// (including malformed ones), and that no secret or token reaches an error message. The web
// identity and metadata sources talk to the fake services of tests/support on loopback.
#include "store/credentials/chain.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "store/config.h"
#include "store/credentials/file_sources.h"
#include "store/credentials/remote_sources.h"
#include "tests/support/fake_credentials.h"
#include "tests/support/temp_dir.h"

namespace shoal {
namespace {

using namespace std::chrono_literals;
using Scheme = ObjectUri::Scheme;
using Vars = std::map<std::string, std::string, std::less<>>;
namespace fs = std::filesystem;

EnvLookup fake_env(Vars vars) { return environment_of(std::move(vars)); }

void write_file(const std::string& path, std::string_view text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

Result<std::shared_ptr<CredentialProvider>> chain(Scheme scheme, const Vars& vars,
                                                  CredentialChainSettings s = {},
                                                  Credentials explicit_keys = {}) {
  s.refresh.poll = 20ms;
  return resolve_credential_chain(scheme, explicit_keys, s, fake_env(vars));
}

std::string key_of(const Result<std::shared_ptr<CredentialProvider>>& p) {
  if (!p.ok()) return "error: " + p.error().describe();
  if (!*p) return "(anonymous)";
  return (*p)->current()->access_key_id;
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// A Secret as kubelet lays it out: dir/<name> -> ..data/<name>, ..data -> ..<version>.
void publish_secret(const std::string& dir, const std::string& version,
                    const std::map<std::string, std::string>& files) {
  std::string versioned = dir + "/.." + version;
  fs::create_directories(versioned);
  for (const auto& [name, value] : files) write_file(versioned + "/" + name, value);
  std::string tmp = dir + "/..data_tmp";
  fs::remove(tmp);
  fs::create_symlink(".." + version, tmp);
  fs::rename(tmp, dir + "/..data");  // the atomic swap
  for (const auto& [name, value] : files) {
    if (!fs::is_symlink(dir + "/" + name)) fs::create_symlink("..data/" + name, dir + "/" + name);
  }
}

// ---- order ---------------------------------------------------------------------------------

TEST(CredentialChain, ExplicitKeysWinOverEverythingElse) {
  test::TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  publish_secret(tmp.path(), "v1", {{"akId", "LTAIdir"}, {"akSecret", "dir-secret"}});
  Vars vars = {{"SHOAL_CREDENTIALS_DIR", tmp.path()}};
  auto p = chain(Scheme::kOss, vars, {}, Credentials{"LTAIflag", "flag-secret", ""});
  EXPECT_EQ(key_of(p), "LTAIflag");
  EXPECT_FALSE((*p)->refreshable());
}

TEST(CredentialChain, DirectoryBeatsProfileWhichBeatsWebIdentity) {
  test::TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  std::string dir = tmp.path() + "/secret";
  publish_secret(dir, "v1", {{"AccessKeyId", "AKIDdir"}, {"AccessKeySecret", "s"}});
  write_file(tmp.path() + "/home/.aws/credentials",
             "[default]\naws_access_key_id = AKIDprofile\naws_secret_access_key = p\n");
  write_file(tmp.path() + "/token", "header.good-oidc-token-for-tests.signature");
  Vars vars = {{"SHOAL_CREDENTIALS_DIR", dir},
               {"HOME", tmp.path() + "/home"},
               {"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/shoal"},
               {"AWS_WEB_IDENTITY_TOKEN_FILE", tmp.path() + "/token"},
               {"AWS_STS_ENDPOINT", "http://127.0.0.1:1"}};  // never reached
  EXPECT_EQ(key_of(chain(Scheme::kS3, vars)), "AKIDdir");
  vars.erase("SHOAL_CREDENTIALS_DIR");
  EXPECT_EQ(key_of(chain(Scheme::kS3, vars)), "AKIDprofile");
  // For oss:// an unnamed AWS profile does not apply: web identity is next.
  auto oss = chain(Scheme::kOss, vars);
  ASSERT_FALSE(oss.ok()) << "the unreachable STS must have been tried";
  EXPECT_NE(oss.error().message.find("AssumeRoleWithWebIdentity"), std::string::npos);
  vars["AWS_PROFILE"] = "default";
  EXPECT_EQ(key_of(chain(Scheme::kOss, vars)), "AKIDprofile");
}

TEST(CredentialChain, NothingConfiguredIsAnonymousAndMetadataIsNotProbed) {
  // An unroutable metadata address would hang a probe; auto mode must not try it.
  auto p = chain(Scheme::kS3, {{"SHOAL_METADATA_ENDPOINT", "http://10.255.255.1"}});
  ASSERT_TRUE(p.ok()) << p.error().describe();
  EXPECT_EQ(*p, nullptr);
}

TEST(CredentialChain, AModeThatCannotBeUsedIsAnErrorNotAFallThrough) {
  auto bad = chain(Scheme::kS3, {{"SHOAL_CREDENTIALS", "magic"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("not one of auto, static"), std::string::npos);
  auto dir = chain(Scheme::kS3, {{"SHOAL_CREDENTIALS", "credentials-dir"}});
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().message.find("SHOAL_CREDENTIALS_DIR"), std::string::npos);
  auto web = chain(Scheme::kOss, {{"SHOAL_CREDENTIALS", "web-identity"}});
  ASSERT_FALSE(web.ok());
  EXPECT_NE(web.error().message.find("ALIBABA_CLOUD_OIDC_TOKEN_FILE"), std::string::npos);
  auto fixed = chain(Scheme::kOss, {{"SHOAL_CREDENTIALS", "static"}});
  ASSERT_FALSE(fixed.ok());
  auto anon = chain(Scheme::kOss, {{"SHOAL_CREDENTIALS", "anonymous"}}, {},
                    Credentials{"LTAIflag", "flag-secret", ""});
  ASSERT_TRUE(anon.ok());
  EXPECT_EQ(*anon, nullptr);
}

TEST(CredentialChain, TheConfigFileChoosesTheSourceAndUnknownModesAreRefused) {
  auto ok = parse_store_settings(
      "[store]\ncredentials = \"credentials-dir\"\ncredentials_dir = \"/x\"\n"
      "sts_endpoint = \"http://sts\"\nmetadata_endpoint = \"http://md\"\n"
      "metadata_role = \"r\"\nprofile = \"p\"\n",
      "t.toml", Scheme::kOss);
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  EXPECT_EQ(ok->credentials, "credentials-dir");
  EXPECT_EQ(ok->credentials_dir, "/x");
  auto bad = parse_store_settings("[store]\ncredentials = \"magic\"\n", "t.toml", Scheme::kOss);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("credentials"), std::string::npos);
}

// ---- Secret directories ------------------------------------------------------------------

TEST(SecretDirectory, ReadsAllThreeNamingStyles) {
  const std::vector<std::map<std::string, std::string>> styles = {
      {{"akId", "LTAIack\n"}, {"akSecret", "ack-secret\n"}, {"securityToken", "ack-token"}},
      {{"AccessKeyId", "STS.alibaba"}, {"AccessKeySecret", "ali-secret"},
       {"SecurityToken", "ali-token"}, {"Expiration", "2099-01-01T00:00:00Z"}},
      {{"AWS_ACCESS_KEY_ID", "AKIAaws"}, {"AWS_SECRET_ACCESS_KEY", "aws-secret"},
       {"AWS_SESSION_TOKEN", "aws-token"}}};
  const char* ids[] = {"LTAIack", "STS.alibaba", "AKIAaws"};
  const char* tokens[] = {"ack-token", "ali-token", "aws-token"};
  for (size_t i = 0; i < styles.size(); ++i) {
    test::TempDir tmp;
    ASSERT_FALSE(tmp.path().empty());
    publish_secret(tmp.path(), "v1", styles[i]);
    auto got = make_secret_dir_source(tmp.path())->fetch();
    ASSERT_TRUE(got.ok()) << got.error().describe();
    EXPECT_EQ(got->credentials.access_key_id, ids[i]) << "whitespace is trimmed";
    EXPECT_EQ(got->credentials.session_token, tokens[i]);
    EXPECT_EQ(got->expiration.has_value(), i == 1);
  }
}

TEST(SecretDirectory, KubeletsSymlinkSwapIsPickedUp) {
  test::TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  publish_secret(tmp.path(), "2026_01_01_v1", {{"akId", "LTAIone"}, {"akSecret", "one"}});
  auto p = chain(Scheme::kOss, {{"SHOAL_CREDENTIALS_DIR", tmp.path()}});
  ASSERT_EQ(key_of(p), "LTAIone");
  publish_secret(tmp.path(), "2026_01_02_v2", {{"akId", "LTAItwo"}, {"akSecret", "two"}});
  fs::remove_all(tmp.path() + "/..2026_01_01_v1");  // kubelet removes the old version
  EXPECT_TRUE(eventually([&] { return (*p)->current()->access_key_id == "LTAItwo"; }));
  EXPECT_EQ((*p)->current()->secret_access_key, "two");
}

TEST(SecretDirectory, AnInPlaceEditIsPickedUpToo) {
  test::TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  write_file(tmp.path() + "/AWS_ACCESS_KEY_ID", "AKIAone");
  write_file(tmp.path() + "/AWS_SECRET_ACCESS_KEY", "one");
  auto p = chain(Scheme::kS3, {{"SHOAL_CREDENTIALS_DIR", tmp.path()}});
  ASSERT_EQ(key_of(p), "AKIAone");
  std::this_thread::sleep_for(20ms);  // a distinct mtime even on coarse clocks
  write_file(tmp.path() + "/AWS_SECRET_ACCESS_KEY", "changed-and-longer");
  write_file(tmp.path() + "/AWS_ACCESS_KEY_ID", "AKIAtwo");
  EXPECT_TRUE(eventually([&] { return (*p)->current()->access_key_id == "AKIAtwo"; }));
}

TEST(SecretDirectory, IncompleteOrEmptyDirectoriesSayWhatIsMissing) {
  test::TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  auto none = make_secret_dir_source(tmp.path())->fetch();
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("akId, AccessKeyId, AWS_ACCESS_KEY_ID"), std::string::npos);
  write_file(tmp.path() + "/akId", "LTAIonly");
  auto half = make_secret_dir_source(tmp.path())->fetch();
  ASSERT_FALSE(half.ok());
  EXPECT_NE(half.error().message.find("no readable akSecret"), std::string::npos);
  write_file(tmp.path() + "/akSecret", "s");
  write_file(tmp.path() + "/Expiration", "soon");
  auto bad_time = make_secret_dir_source(tmp.path())->fetch();
  ASSERT_FALSE(bad_time.ok());
  EXPECT_NE(bad_time.error().message.find("ISO 8601"), std::string::npos);
}

// ---- AWS profiles -----------------------------------------------------------------------

TEST(AwsProfile, ParsesTheCredentialsAndConfigFilesAsTheCliDoes) {
  IniSections creds = parse_aws_ini(
      "# comment\n[default]\naws_access_key_id = AKIAdefault\naws_secret_access_key=d\n\n"
      "[training]\n  AWS_ACCESS_KEY_ID = AKIAtraining  \naws_secret_access_key = t\n"
      "aws_session_token = tok\n; other comment\n");
  IniSections config = parse_aws_ini(
      "[default]\nregion = us-west-2\n[profile cfgonly]\naws_access_key_id = AKIAcfg\n"
      "aws_secret_access_key = c\n[profile halfkey]\naws_access_key_id = AKIAhalf\n");
  auto d = aws_profile_credentials(creds, config, "default", "here");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->access_key_id, "AKIAdefault");
  auto t = aws_profile_credentials(creds, config, "training", "here");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->access_key_id, "AKIAtraining");
  EXPECT_EQ(t->session_token, "tok");
  auto c = aws_profile_credentials(creds, config, "cfgonly", "here");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key_id, "AKIAcfg");
  auto missing = aws_profile_credentials(creds, config, "nope", "here");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
  auto half = aws_profile_credentials(creds, config, "halfkey", "here");
  ASSERT_FALSE(half.ok());
  EXPECT_EQ(half.error().kind, ErrorKind::kInvalidArgument);
}

TEST(AwsProfile, ANamedProfileMustExistAndTheFilesCanBeMoved) {
  test::TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  write_file(tmp.path() + "/c", "[x]\naws_access_key_id = AKIAx\naws_secret_access_key = s\n");
  Vars vars = {{"AWS_SHARED_CREDENTIALS_FILE", tmp.path() + "/c"},
               {"AWS_CONFIG_FILE", tmp.path() + "/none"}};
  EXPECT_EQ(key_of(chain(Scheme::kS3, vars)), "(anonymous)") << "default absent: chain goes on";
  vars["AWS_PROFILE"] = "x";
  EXPECT_EQ(key_of(chain(Scheme::kS3, vars)), "AKIAx");
  vars["AWS_PROFILE"] = "y";
  auto missing = chain(Scheme::kS3, vars);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("profile y"), std::string::npos);
}

// ---- STS and metadata answers ------------------------------------------------------------

constexpr const char* kWebIdentityAnswer = R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>amzn1.account.AF6RHO7KZU5XRVQJGXK6HB56KR2A</SubjectFromWebIdentityToken>
    <Audience>client.5498841531868486423.1548@apps.example.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/FederatedWebIdentityRole/app1</Arn>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:app1</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <Expiration>2014-10-24T23:00:23Z</Expiration>
      <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>
    </Credentials>
    <Provider>www.amazon.com</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>)";

TEST(StsAnswers, AwsWebIdentityXml) {
  auto got = parse_assume_role_with_web_identity(200, kWebIdentityAnswer, "STS");
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(got->credentials.access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(got->credentials.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
  EXPECT_EQ(got->credentials.session_token, "AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE");
  EXPECT_EQ(format_iso8601(*got->expiration), "2014-10-24T23:00:23Z");

  auto refused = parse_assume_role_with_web_identity(
      400,
      "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>No "
      "OpenIDConnect provider found</Message></Error><RequestId>r-1</RequestId></ErrorResponse>",
      "STS");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::kAccessDenied);
  EXPECT_EQ(refused.error().code, "InvalidIdentityToken");
  EXPECT_EQ(refused.error().request_id, "r-1");
  EXPECT_NE(refused.error().message.find("No OpenIDConnect provider found"), std::string::npos);

  auto down = parse_assume_role_with_web_identity(503, "<html>bad gateway</html>", "STS");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().kind, ErrorKind::kServer);

  for (const char* broken :
       {"not xml at all", "<AssumeRoleWithWebIdentityResponse/>",
        "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
        "<AccessKeyId>A</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult>"
        "</AssumeRoleWithWebIdentityResponse>"}) {
    auto bad = parse_assume_role_with_web_identity(200, broken, "STS");
    ASSERT_FALSE(bad.ok()) << broken;
    EXPECT_EQ(bad.error().kind, ErrorKind::kServer);
    EXPECT_NE(bad.error().message.find("cannot read the answer"), std::string::npos);
  }
  std::string bad_time = kWebIdentityAnswer;
  bad_time.replace(bad_time.find("2014-10-24T23:00:23Z"), 20, "next tuesday");
  auto t = parse_assume_role_with_web_identity(200, bad_time, "STS");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("Expiration"), std::string::npos);
  EXPECT_EQ(t.error().message.find("wJalrXUtnFEMI"), std::string::npos);
}

TEST(StsAnswers, AlibabaOidcJson) {
  auto got = parse_assume_role_with_oidc(200, R"({
    "RequestId": "3D57EAD2-8723-1F26-B69C-F8707D8B565D",
    "OIDCTokenInfo": {"Subject": "KryrkIdjylZb7agUgCEf****", "Issuer": "https://dev-xxxxxx.okta.com",
                      "ClientIds": "496271242565057****"},
    "AssumedRoleUser": {"AssumedRoleId": "33157794895460****", "Arn": "acs:ram::113511544585****:role/testoidc/TestOidcAssumedRoleSession"},
    "Credentials": {"SecurityToken": "CAIShwJ1q6Ft5B2yfSjIr5bkKILdgOZsj4OqNl_v1DQ2ZcxuiK",
                    "Expiration": "2021-10-20T04:27:09Z",
                    "AccessKeySecret": "CVwjCkNzTMupZ8NbTCxCBRq3K16jtcWFTJAyBEv2****",
                    "AccessKeyId": "STS.NUgYrLnoC37mZZCNnAbez****"}})",
                                         "STS");
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(got->credentials.access_key_id, "STS.NUgYrLnoC37mZZCNnAbez****");
  EXPECT_EQ(got->credentials.session_token, "CAIShwJ1q6Ft5B2yfSjIr5bkKILdgOZsj4OqNl_v1DQ2ZcxuiK");
  EXPECT_EQ(format_iso8601(*got->expiration), "2021-10-20T04:27:09Z");

  auto refused = parse_assume_role_with_oidc(
      400, R"({"RequestId":"R2","HostId":"sts.aliyuncs.com","Code":"AuthenticationFail.OIDCToken.Expired","Message":"The OIDCToken has expired."})",
      "STS");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::kAccessDenied);
  EXPECT_EQ(refused.error().code, "AuthenticationFail.OIDCToken.Expired");
  EXPECT_EQ(refused.error().request_id, "R2");

  for (const char* broken : {"{", "[]", R"({"RequestId":"x"})", R"({"Credentials": 7})",
                             R"({"Credentials": {"AccessKeyId": "A", "AccessKeySecret": "B"}})",
                             R"({"Credentials": {"AccessKeyId": "A", "AccessKeySecret": "B",
                                  "SecurityToken": "C", "Expiration": 5}})"}) {
    auto bad = parse_assume_role_with_oidc(200, broken, "STS");
    ASSERT_FALSE(bad.ok()) << broken;
    EXPECT_EQ(bad.error().kind, ErrorKind::kServer) << broken;
  }
}

TEST(StsAnswers, ATruncatedAnswerIsNeverQuoted) {
  // A 2xx answer cut short may hold keys; it is described, not shown.
  const std::string secret = "leaky-secret-value-0123456789";
  auto json = parse_assume_role_with_oidc(
      200, R"({"Credentials": {"AccessKeySecret": ")" + secret + "\", \"AccessKeyId", "STS");
  ASSERT_FALSE(json.ok());
  EXPECT_EQ(json.error().describe().find(secret), std::string::npos) << json.error().describe();
  auto xml = parse_assume_role_with_web_identity(
      200, "<AssumeRoleWithWebIdentityResponse><Credentials><SecretAccessKey>" + secret, "STS");
  ASSERT_FALSE(xml.ok());
  EXPECT_EQ(xml.error().describe().find(secret), std::string::npos) << xml.error().describe();
  auto md = parse_metadata_credentials(R"({"AccessKeySecret": ")" + secret, "ECS");
  ASSERT_FALSE(md.ok());
  EXPECT_EQ(md.error().describe().find(secret), std::string::npos) << md.error().describe();
}

TEST(MetadataAnswers, EcsAndEc2Json) {
  auto ecs = parse_metadata_credentials(
      R"({"AccessKeyId":"STS.ecs","AccessKeySecret":"ecs-secret","Expiration":"2017-11-01T05:20:01Z","SecurityToken":"ecs-token","LastUpdated":"2017-10-31T23:20:01Z","Code":"Success"})",
      "ECS");
  ASSERT_TRUE(ecs.ok()) << ecs.error().describe();
  EXPECT_EQ(ecs->credentials.secret_access_key, "ecs-secret");
  EXPECT_EQ(ecs->credentials.session_token, "ecs-token");
  auto ec2 = parse_metadata_credentials(
      R"({"Code":"Success","LastUpdated":"2012-04-26T16:39:16Z","Type":"AWS-HMAC","AccessKeyId":"ASIAec2","SecretAccessKey":"ec2-secret","Token":"ec2-token","Expiration":"2017-05-17T15:09:54Z"})",
      "EC2");
  ASSERT_TRUE(ec2.ok());
  EXPECT_EQ(ec2->credentials.secret_access_key, "ec2-secret");
  EXPECT_EQ(ec2->credentials.session_token, "ec2-token");
  auto failed = parse_metadata_credentials(R"({"Code":"Failed"})", "ECS");
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("Code Failed"), std::string::npos);
  EXPECT_FALSE(parse_metadata_credentials("<html/>", "ECS").ok());
}

// ---- the fake services, end to end --------------------------------------------------------

class RemoteSources : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    token_file_ = tmp_.path() + "/token";
    write_file(token_file_, "header.good-oidc-token-for-tests.signature\n");
  }
  test::IssuedKeys keys_;
  test::FakeCredentialServer sts_{keys_, {}};
  test::TempDir tmp_;
  std::string token_file_;
};

TEST_F(RemoteSources, AwsWebIdentityAndAlibabaOidcGetKeysThatExpire) {
  Vars aws = {{"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/shoal"},
              {"AWS_WEB_IDENTITY_TOKEN_FILE", token_file_},
              {"AWS_STS_ENDPOINT", sts_.endpoint()}};
  auto p = chain(Scheme::kS3, aws);
  ASSERT_TRUE(p.ok()) << p.error().describe();
  EXPECT_TRUE((*p)->current()->access_key_id.starts_with("ASIATEST"));
  EXPECT_TRUE((*p)->expiration());
  Vars ali = {{"ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/shoal"},
              {"ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "acs:ram::1:oidc-provider/ack"},
              {"ALIBABA_CLOUD_OIDC_TOKEN_FILE", token_file_},
              {"ALIBABA_CLOUD_STS_ENDPOINT", sts_.endpoint()}};
  auto q = chain(Scheme::kOss, ali);
  ASSERT_TRUE(q.ok()) << q.error().describe();
  EXPECT_TRUE((*q)->current()->access_key_id.starts_with("ASIATEST"));
  EXPECT_EQ(sts_.credentials_issued(), 2);
  for (const auto& r : sts_.received())
    EXPECT_EQ(r.target.find("good-oidc-token"), std::string::npos) << "token in a URL";
}

TEST_F(RemoteSources, ABadTokenIsAClearErrorWithoutTheToken) {
  write_file(token_file_, "header.a-token-the-fake-sts-refuses.signature");
  auto aws = chain(Scheme::kS3, {{"AWS_ROLE_ARN", "arn:aws:iam::1:role/shoal"},
                                 {"AWS_WEB_IDENTITY_TOKEN_FILE", token_file_},
                                 {"AWS_STS_ENDPOINT", sts_.endpoint()}});
  ASSERT_FALSE(aws.ok());
  std::string m = aws.error().describe();
  EXPECT_NE(m.find("InvalidIdentityToken"), std::string::npos) << m;
  EXPECT_NE(m.find("trust policy"), std::string::npos) << m;
  EXPECT_EQ(m.find("token-the-fake-sts-refuses"), std::string::npos) << m;
  auto ali = chain(Scheme::kOss, {{"ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/shoal"},
                                  {"ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "acs:ram::1:oidc-provider/x"},
                                  {"ALIBABA_CLOUD_OIDC_TOKEN_FILE", token_file_},
                                  {"ALIBABA_CLOUD_STS_ENDPOINT", sts_.endpoint()}});
  ASSERT_FALSE(ali.ok());
  EXPECT_NE(ali.error().describe().find("AuthenticationFail.OIDCToken.Invalid"), std::string::npos);
  auto missing = chain(Scheme::kS3, {{"AWS_ROLE_ARN", "arn:aws:iam::1:role/shoal"},
                                     {"AWS_WEB_IDENTITY_TOKEN_FILE", tmp_.path() + "/nope"},
                                     {"AWS_STS_ENDPOINT", sts_.endpoint()}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("AWS_WEB_IDENTITY_TOKEN_FILE"), std::string::npos);
}

TEST_F(RemoteSources, AMalformedAnswerIsAClearError) {
  sts_.set_malformed(true);
  auto aws = chain(Scheme::kS3, {{"AWS_ROLE_ARN", "arn:aws:iam::1:role/shoal"},
                                 {"AWS_WEB_IDENTITY_TOKEN_FILE", token_file_},
                                 {"AWS_STS_ENDPOINT", sts_.endpoint()}});
  ASSERT_FALSE(aws.ok());
  EXPECT_NE(aws.error().message.find("cannot read the answer"), std::string::npos);
  auto imds = chain(Scheme::kS3, {{"SHOAL_CREDENTIALS", "imds"},
                                  {"AWS_EC2_METADATA_SERVICE_ENDPOINT", sts_.endpoint()}});
  ASSERT_FALSE(imds.ok());
  EXPECT_NE(imds.error().message.find("cannot read the answer"), std::string::npos);
}

TEST_F(RemoteSources, ImdsV2AndTheEcsRamRoleUseTheirSessionTokens) {
  auto imds = chain(Scheme::kS3, {{"SHOAL_CREDENTIALS", "imds"},
                                  {"AWS_EC2_METADATA_SERVICE_ENDPOINT", sts_.endpoint()}});
  ASSERT_TRUE(imds.ok()) << imds.error().describe();
  EXPECT_TRUE((*imds)->current()->access_key_id.starts_with("ASIATEST"));
  // Auto mode tries the ECS RAM role when ALIBABA_CLOUD_ECS_METADATA names it.
  auto ecs = chain(Scheme::kOss, {{"ALIBABA_CLOUD_ECS_METADATA", "shoal-test-role"},
                                  {"SHOAL_METADATA_ENDPOINT", sts_.endpoint()}});
  ASSERT_TRUE(ecs.ok()) << ecs.error().describe();
  EXPECT_FALSE((*ecs)->current()->session_token.empty());
  auto wrong_role = chain(Scheme::kOss, {{"ALIBABA_CLOUD_ECS_METADATA", "other-role"},
                                         {"SHOAL_METADATA_ENDPOINT", sts_.endpoint()}});
  ASSERT_FALSE(wrong_role.ok());
  EXPECT_NE(wrong_role.error().message.find("no such role"), std::string::npos);
  bool saw_token_put = false;
  for (const auto& r : sts_.received()) {
    if (r.method == "PUT" && r.path() == "/latest/api/token") saw_token_put = true;
  }
  EXPECT_TRUE(saw_token_put);
}

TEST_F(RemoteSources, AnUnreachableMetadataServiceFailsFast) {
  // Port 1 on loopback refuses at once; the message names the service to check.
  auto imds = chain(Scheme::kS3, {{"SHOAL_CREDENTIALS", "imds"},
                                  {"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1"}});
  ASSERT_FALSE(imds.ok());
  EXPECT_EQ(imds.error().kind, ErrorKind::kNetwork);
  EXPECT_NE(imds.error().message.find("EC2 instance metadata service"), std::string::npos);
}

}  // namespace
}  // namespace shoal
