// OSS V1 and V4 signing: every V1 header, V1 query and V4 header case of oss-signing.json,
// plus the factories, STS tokens, anonymous access and the hashes V1 relies on.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "store/hash.h"
#include "store/sign/signer.h"
#include "store/sign/signing_detail.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using signing::TimePoint;

const fs::path kVectorFile = fs::path(SHOAL_TESTVECTORS) / "oss-signing.json";

// The vectors are required: an absent file fails the test with a message, never skips it.
json load_vectors() {
  std::ifstream in(kVectorFile);
  EXPECT_TRUE(in.good()) << "cannot read " << kVectorFile
                         << ": the test vectors live in tests/vectors (SHOAL_TESTVECTORS)";
  if (!in.good()) return json::object();
  return json::parse(in);
}

TimePoint from_unix(int64_t seconds) { return TimePoint(std::chrono::seconds(seconds)); }

TimePoint parse_http_date(const std::string& text) {  // "Wed, 28 Dec 2022 10:27:41 GMT"
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int d = 0, y = 0, h = 0, mi = 0, s = 0;
  char month_name[4] = {};
  EXPECT_EQ(
      std::sscanf(text.c_str(), "%*3s, %d %3s %d %d:%d:%d GMT", &d, month_name, &y, &h, &mi, &s), 6)
      << text;
  unsigned m = 1;
  while (m <= 12 && std::strcmp(kMonths[m - 1], month_name) != 0) ++m;
  EXPECT_LE(m, 12u) << text;
  using namespace std::chrono;
  return sys_days{year{y} / month{m} / d} + hours{h} + minutes{mi} + seconds{s};
}

Credentials credentials_of(const json& c) {
  Credentials creds{c.at("access_key_id"), c.at("access_key_secret"), ""};
  if (c.contains("security_token") && c.at("security_token").is_string()) {
    creds.session_token = c.at("security_token");
  }
  return creds;
}

// A virtual-hosted request for c's key: path "/key", headers and query as the case gives.
HttpRequest request_of(const json& c) {
  HttpRequest req;
  req.method = c.at("method");
  req.host = c.at("bucket").get<std::string>() + ".oss-cn-hangzhou.aliyuncs.com";
  req.path = "/" + c.at("key").get<std::string>();
  if (c.contains("headers")) {
    for (const auto& [name, value] : c.at("headers").items()) {
      req.headers.emplace_back(name, value);
    }
  }
  for (const auto& q : c.at("query")) req.query.emplace_back(q.at(0), q.at(1));
  return req;
}

size_t count_cases(const json& vectors, const char* section) {
  return vectors.contains(section) ? vectors.at(section).size() : 0;
}

TEST(OssV1, HeaderFormEveryCase) {
  json vectors = load_vectors();
  ASSERT_EQ(count_cases(vectors, "v1_header"), 3u);
  for (const json& c : vectors.at("v1_header")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    HttpRequest req = request_of(c);
    TimePoint now = parse_http_date(c.at("date"));
    EXPECT_EQ(signing::http_date(now), c.at("date").get<std::string>());
    signing::Steps steps = signing::oss_v1_sign_headers(req, credentials_of(c),
                                                        c.at("bucket").get<std::string>(), now);
    EXPECT_EQ(steps.string_to_sign, c.at("string_to_sign").get<std::string>());
    ASSERT_NE(req.header("Authorization"), nullptr);
    EXPECT_EQ(*req.header("Authorization"), c.at("authorization").get<std::string>());
    EXPECT_EQ(*req.header("Date"), c.at("date").get<std::string>());

    HttpRequest via_factory = request_of(c);
    make_oss_v1_signer(credentials_of(c), c.at("bucket"))->sign(via_factory, now);
    EXPECT_EQ(via_factory.headers, req.headers);
  }
}

TEST(OssV1, QueryFormEveryCase) {
  json vectors = load_vectors();
  ASSERT_EQ(count_cases(vectors, "v1_query"), 1u);
  for (const json& c : vectors.at("v1_query")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    HttpRequest req = request_of(c);
    TimePoint expires_at = from_unix(c.at("expires").get<int64_t>());
    signing::Steps steps = signing::oss_v1_presign(req, credentials_of(c),
                                                   c.at("bucket").get<std::string>(), expires_at);
    EXPECT_EQ(steps.string_to_sign, c.at("string_to_sign").get<std::string>());
    EXPECT_EQ(steps.signature, c.at("signature").get<std::string>());
    std::map<std::string, std::string> params(req.query.begin(), req.query.end());
    EXPECT_EQ(params["OSSAccessKeyId"], c.at("access_key_id").get<std::string>());
    EXPECT_EQ(params["Expires"], std::to_string(c.at("expires").get<int64_t>()));
    EXPECT_EQ(params["Signature"], c.at("signature").get<std::string>());
    EXPECT_TRUE(req.headers.empty()) << "a presigned URL carries no auth headers";

    HttpRequest via_public = request_of(c);
    presign_oss_v1(via_public, credentials_of(c), c.at("bucket"), expires_at);
    EXPECT_EQ(via_public.query, req.query);
  }
}

TEST(OssV1, SessionTokenIsAnOssHeaderOrQueryParameter) {
  HttpRequest req;
  req.method = "GET";
  req.path = "/key";
  Credentials creds{"ak", "sk", "token"};
  TimePoint now = from_unix(1699807420);
  signing::Steps steps = signing::oss_v1_sign_headers(req, creds, "bucket", now);
  EXPECT_EQ(*req.header("x-oss-security-token"), "token");
  EXPECT_EQ(steps.string_to_sign,
            "GET\n\n\n" + signing::http_date(now) + "\nx-oss-security-token:token\n/bucket/key");

  HttpRequest presigned;
  presigned.method = "GET";
  presigned.path = "/key";
  steps = signing::oss_v1_presign(presigned, creds, "bucket", now);
  EXPECT_EQ(steps.string_to_sign, "GET\n\n\n1699807420\n/bucket/key?security-token=token");
}

TEST(OssV1, OnlySubResourcesAreSigned) {
  HttpRequest req;
  req.method = "POST";
  req.path = "/dir/a b";
  req.query = {{"uploadId", "u1"}, {"prefix", "ignored"}, {"partNumber", "2"}, {"uploads", ""}};
  EXPECT_EQ(signing::oss_v1_string_to_sign(req, "bucket", "D"),
            "POST\n\n\nD\n/bucket/dir/a b?partNumber=2&uploadId=u1&uploads");
}

TEST(OssV4, HeaderFormEveryCase) {
  json vectors = load_vectors();
  ASSERT_EQ(count_cases(vectors, "v4_header"), 5u);
  for (const json& c : vectors.at("v4_header")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    HttpRequest req = request_of(c);
    Credentials creds = credentials_of(c);
    signing::OssV4Scope scope{c.at("region"), c.at("product")};
    std::vector<std::string> additional = c.at("additional_headers");
    signing::Steps steps =
        signing::oss_v4_sign_headers(req, creds, scope, c.at("bucket").get<std::string>(),
                                     from_unix(c.at("unix_time").get<int64_t>()), additional);
    if (c.contains("canonical_request")) {
      EXPECT_EQ(steps.canonical_request, c.at("canonical_request").get<std::string>());
    }
    ASSERT_NE(req.header("Authorization"), nullptr);
    EXPECT_EQ(*req.header("Authorization"), c.at("authorization").get<std::string>());
    EXPECT_EQ(*req.header("x-oss-content-sha256"), "UNSIGNED-PAYLOAD");
    if (!creds.session_token.empty()) {
      ASSERT_NE(req.header("x-oss-security-token"), nullptr);
      EXPECT_EQ(*req.header("x-oss-security-token"), creds.session_token);
    }
  }
}

TEST(OssV4, FactorySignsLikeTheVectors) {
  json vectors = load_vectors();
  ASSERT_GE(count_cases(vectors, "v4_header"), 2u);
  for (const json& c : vectors.at("v4_header")) {
    bool plain = c.at("product") == "oss" && c.at("additional_headers").empty();
    if (!plain) continue;  // the factory signs product "oss" without AdditionalHeaders
    SCOPED_TRACE(c.at("name").get<std::string>());
    HttpRequest req = request_of(c);
    make_oss_v4_signer(credentials_of(c), c.at("region"), c.at("bucket"))
        ->sign(req, from_unix(c.at("unix_time").get<int64_t>()));
    ASSERT_NE(req.header("Authorization"), nullptr);
    EXPECT_EQ(*req.header("Authorization"), c.at("authorization").get<std::string>());
  }
}

TEST(OssSigners, AnonymousCredentialsSignNothing) {
  HttpRequest req;
  req.path = "/key";
  req.headers = {{"Range", "bytes=0-1"}};
  make_oss_v4_signer(Credentials{}, "cn-hangzhou", "bucket")->sign(req, from_unix(0));
  make_oss_v1_signer(Credentials{}, "bucket")->sign(req, from_unix(0));
  presign_oss_v1(req, Credentials{}, "bucket", from_unix(0));
  EXPECT_EQ(req.headers, (HeaderList{{"Range", "bytes=0-1"}}));
  EXPECT_TRUE(req.query.empty());
}

TEST(Hash, Sha1Md5AndBase64KnownAnswers) {
  // RFC 2202, test case 2.
  EXPECT_EQ(hex_encode(hmac_sha1("Jefe", "what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  EXPECT_EQ(hex_encode(md5("")), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(base64_encode(md5("")), "1B2M2Y8AsgTpgAmY7PhCfg==");  // Content-MD5 of no bytes
  // RFC 4648, section 10.
  const std::pair<const char*, const char*> kBase64[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, out] : kBase64) EXPECT_EQ(base64_encode(in), out) << in;
}

TEST(Hash, IncrementalMd5MatchesOneShot) {
  std::string data(100000, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131);
  Digest digest = Digest::md5();
  for (size_t i = 0; i < data.size(); i += 4096) {
    digest.update(std::string_view(data).substr(i, 4096));
  }
  EXPECT_EQ(digest.finish(), md5(data));
}

}  // namespace
}  // namespace shoal
