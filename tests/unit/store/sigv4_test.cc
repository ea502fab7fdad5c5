// AWS SigV4: every case of the AWS signing test suite (header and query forms, each step
// compared), the Amazon S3 documentation examples, and the S3 signer's own rules.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/hash.h"
#include "store/sign/signer.h"
#include "store/sign/signing_detail.h"
#include "store/url_encode.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using signing::SigV4Options;
using signing::SigV4Scope;
using signing::TimePoint;

const fs::path kVectors = SHOAL_TESTVECTORS;
const fs::path kSuite = kVectors / "aws-sigv4";
constexpr size_t kSuiteCases = 38;

// Cases of the AWS suite that cannot run through the signer, with the reason. Every case
// runs today; a case added here must say why, and the tests check this list is exactly what
// was skipped.
const std::map<std::string, std::string> kSkipped = {};

std::string missing_vectors_message() {
  return "test vectors not found at " + kVectors.string() +
         ": they live in tests/vectors (SHOAL_TESTVECTORS)";
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path << "; " << missing_vectors_message();
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The expected step files end without a newline; tolerate one in case an editor adds it.
std::string read_expected(const fs::path& path) {
  std::string text = read_file(path);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A raw HTTP/1.1 request as the suite writes it: the target may hold a space, a header may
// repeat, and a line starting with whitespace continues the previous header (folded to one
// space, as RFC 7230 obs-fold is read).
struct RawRequest {
  std::string method;
  std::string target;
  HeaderList headers;
  std::string body;
};

RawRequest parse_http(const std::string& text) {
  RawRequest raw;
  size_t pos = 0;
  auto next_line = [&]() {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = std::min(end + 1, text.size());
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  };
  std::string request_line = next_line();
  size_t first_space = request_line.find(' ');
  size_t last_space = request_line.rfind(' ');
  raw.method = request_line.substr(0, first_space);
  raw.target = request_line.substr(first_space + 1, last_space - first_space - 1);
  while (pos < text.size()) {
    std::string line = next_line();
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') {
      raw.headers.back().second += ' ' + std::string(trim(line));
      continue;
    }
    size_t colon = line.find(':');
    raw.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  raw.body = text.substr(pos);
  return raw;
}

std::string decoded(std::string_view s) {
  Result<std::string> r = uri_decode(s);
  EXPECT_TRUE(r.ok()) << "bad escape in " << s;
  return r.ok() ? *r : std::string(s);
}

QueryList parse_query(std::string_view query) {
  QueryList list;
  while (!query.empty()) {
    std::string_view item = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(item.size() + 1, query.size()));
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      list.emplace_back(decoded(item), "");
    } else {
      list.emplace_back(decoded(item.substr(0, eq)), decoded(item.substr(eq + 1)));
    }
  }
  return list;
}

// request.txt → HttpRequest. The suite's path is taken as our raw path: aws-c-auth encodes
// the request-line path once more for a non-S3 service, and the suite's paths hold literal
// spaces and UTF-8 (never '%'), so that one extra encoding is exactly our single encoding of
// the raw path. Hence the suite runs with double_encode_path off (it is tested on its own).
HttpRequest to_request(const RawRequest& raw) {
  HttpRequest req;
  req.method = raw.method;
  size_t question = raw.target.find('?');
  req.path = raw.target.substr(0, question);
  if (question != std::string::npos) req.query = parse_query(raw.target.substr(question + 1));
  for (const auto& [name, value] : raw.headers) {
    if (lower(name) == "host") {
      req.host = std::string(trim(value));
    } else {
      req.headers.emplace_back(name, value);
    }
  }
  req.body = Body::from_string(raw.body);
  return req;
}

TimePoint parse_iso8601(const std::string& text) {  // "2015-08-30T12:36:00Z"
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  EXPECT_EQ(std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &s), 6) << text;
  using namespace std::chrono;
  return sys_days{year{y} / mo / d} + hours{h} + minutes{mi} + seconds{s};
}

TimePoint parse_amz_date(const std::string& text) {  // "20130524T000000Z"
  return parse_iso8601(text.substr(0, 4) + '-' + text.substr(4, 2) + '-' + text.substr(6, 2) + 'T' +
                       text.substr(9, 2) + ':' + text.substr(11, 2) + ':' + text.substr(13, 2) +
                       'Z');
}

struct SuiteCase {
  std::string name;
  HttpRequest request;
  Credentials credentials;
  SigV4Scope scope;
  TimePoint now;
  std::chrono::seconds expires{0};
  SigV4Options options;
};

SuiteCase load_case(const fs::path& dir) {
  SuiteCase c;
  c.name = dir.filename().string();
  c.request = to_request(parse_http(read_file(dir / "request.txt")));
  json context = json::parse(read_file(dir / "context.json"));
  const json& creds = context.at("credentials");
  c.credentials.access_key_id = creds.at("access_key_id");
  c.credentials.secret_access_key = creds.at("secret_access_key");
  c.credentials.session_token = creds.value("token", "");
  c.scope = {context.at("region"), context.at("service")};
  c.now = parse_iso8601(context.at("timestamp"));
  c.expires = std::chrono::seconds(context.at("expiration_in_seconds").get<int>());
  c.options.normalize_path = context.at("normalize").get<bool>();
  c.options.double_encode_path = false;  // see to_request()
  c.options.payload = SigV4Options::Payload::kSha256;
  c.options.content_sha256_header = context.at("sign_body").get<bool>();
  c.options.sign_session_token = !context.value("omit_session_token", false);
  return c;
}

std::vector<fs::path> suite_dirs() {
  std::vector<fs::path> dirs;
  if (!fs::is_directory(kSuite)) return dirs;
  for (const auto& entry : fs::directory_iterator(kSuite)) {
    if (entry.is_directory()) dirs.push_back(entry.path());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

using NamedValues = std::vector<std::pair<std::string, std::string>>;

// Host plus headers, names lower-cased and values trimmed, sorted: what a request carries.
NamedValues header_set(const std::string& host, const HeaderList& headers) {
  NamedValues out = {{"host", host}};
  for (const auto& [name, value] : headers) out.emplace_back(lower(name), trim(value));
  std::sort(out.begin(), out.end());
  return out;
}

NamedValues sorted(QueryList query) {
  std::sort(query.begin(), query.end());
  return query;
}

void check_skips(const std::set<std::string>& skipped, const char* form) {
  std::set<std::string> listed;
  for (const auto& [name, reason] : kSkipped) {
    listed.insert(name);
    std::cout << "skipped AWS suite case (" << form << "): " << name << ": " << reason << "\n";
  }
  if (listed.empty()) std::cout << "AWS suite (" << form << "): no case skipped\n";
  EXPECT_EQ(skipped, listed) << "the skip list must be exactly the cases skipped";
}

TEST(SigV4Suite, VectorsArePresent) {
  ASSERT_TRUE(fs::is_directory(kSuite)) << missing_vectors_message();
  EXPECT_EQ(suite_dirs().size(), kSuiteCases) << "the AWS suite changed: update kSuiteCases";
}

TEST(SigV4Suite, HeaderFormEveryCase) {
  ASSERT_TRUE(fs::is_directory(kSuite)) << missing_vectors_message();
  std::set<std::string> skipped;
  size_t ran = 0;
  for (const fs::path& dir : suite_dirs()) {
    SuiteCase c = load_case(dir);
    if (kSkipped.count(c.name)) {
      skipped.insert(c.name);
      continue;
    }
    SCOPED_TRACE("case " + c.name);
    HttpRequest req = c.request;
    signing::Steps steps =
        signing::sigv4_sign_headers(req, c.credentials, c.scope, c.now, c.options);
    EXPECT_EQ(steps.canonical_request, read_expected(dir / "header-canonical-request.txt"));
    EXPECT_EQ(steps.string_to_sign, read_expected(dir / "header-string-to-sign.txt"));
    EXPECT_EQ(steps.signature, read_expected(dir / "header-signature.txt"));
    // The signed request carries exactly the headers of the suite's signed request.
    HttpRequest expected = to_request(parse_http(read_file(dir / "header-signed-request.txt")));
    EXPECT_EQ(header_set(req.host, req.headers), header_set(expected.host, expected.headers));
    ++ran;
  }
  EXPECT_EQ(ran + skipped.size(), kSuiteCases);
  check_skips(skipped, "header form");
}

TEST(SigV4Suite, QueryFormEveryCase) {
  ASSERT_TRUE(fs::is_directory(kSuite)) << missing_vectors_message();
  std::set<std::string> skipped;
  size_t ran = 0;
  for (const fs::path& dir : suite_dirs()) {
    SuiteCase c = load_case(dir);
    if (kSkipped.count(c.name)) {
      skipped.insert(c.name);
      continue;
    }
    SCOPED_TRACE("case " + c.name);
    HttpRequest req = c.request;
    signing::Steps steps =
        signing::sigv4_presign(req, c.credentials, c.scope, c.now, c.expires, c.options);
    EXPECT_EQ(steps.canonical_request, read_expected(dir / "query-canonical-request.txt"));
    EXPECT_EQ(steps.string_to_sign, read_expected(dir / "query-string-to-sign.txt"));
    EXPECT_EQ(steps.signature, read_expected(dir / "query-signature.txt"));
    HttpRequest expected = to_request(parse_http(read_file(dir / "query-signed-request.txt")));
    EXPECT_EQ(sorted(req.query), sorted(expected.query));
    EXPECT_EQ(header_set(req.host, req.headers), header_set(expected.host, expected.headers));
    // What goes on the wire decodes back to exactly the signed parameters.
    HttpRequest sent = to_request({req.method, request_target(req), {}, ""});
    EXPECT_EQ(decoded(sent.path), req.path);
    EXPECT_EQ(sorted(sent.query), sorted(req.query));
    ++ran;
  }
  EXPECT_EQ(ran + skipped.size(), kSuiteCases);
  check_skips(skipped, "query form");
}

// ---- The Amazon S3 documentation examples (in oss-signing.json) -------------------------

TEST(SigV4S3, DocumentationExamples) {
  ASSERT_TRUE(fs::exists(kVectors / "oss-signing.json")) << missing_vectors_message();
  json doc = json::parse(read_file(kVectors / "oss-signing.json")).at("aws_s3_sigv4");
  Credentials creds{doc.at("access_key_id"), doc.at("secret_access_key"), ""};
  SigV4Scope scope{doc.at("region"), doc.at("service")};
  TimePoint now = parse_amz_date(doc.at("amz_date"));
  ASSERT_EQ(doc.at("cases").size(), 2u);
  for (const json& c : doc.at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    HttpRequest req;
    req.method = c.at("method");
    req.host = doc.at("host");
    req.path = c.at("path");
    for (const auto& q : c.at("query")) req.query.emplace_back(q.at(0), q.at(1));
    for (const auto& [name, value] : c.at("headers").items()) req.headers.emplace_back(name, value);
    SigV4Options s3;  // S3 rules; these examples sign the real hash of the empty body
    s3.payload = SigV4Options::Payload::kSha256;
    signing::Steps steps = signing::sigv4_sign_headers(req, creds, scope, now, s3);
    EXPECT_EQ(steps.signature, c.at("signature").get<std::string>());
    EXPECT_EQ(*req.header("Authorization"),
              "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
              "aws4_request, SignedHeaders=" +
                  c.at("signed_headers").get<std::string>() +
                  ", Signature=" + c.at("signature").get<std::string>());
  }
}

// ---- The S3 signer ------------------------------------------------------------------------

HttpRequest s3_get() {
  HttpRequest req;
  req.host = "examplebucket.s3.amazonaws.com";
  req.path = "/dir/a b+c.txt";
  req.headers = {{"Range", "bytes=0-9"}};
  return req;
}

const Credentials kCreds{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
const TimePoint kNow = std::chrono::sys_days{std::chrono::year{2013} / 5 / 24};

TEST(SigV4S3, SignerUsesUnsignedPayloadAndS3Rules) {
  HttpRequest req = s3_get();
  make_sigv4_signer(kCreds, "us-east-1")->sign(req, kNow);
  ASSERT_NE(req.header("x-amz-content-sha256"), nullptr);
  EXPECT_EQ(*req.header("x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
  EXPECT_EQ(*req.header("x-amz-date"), "20130524T000000Z");
  EXPECT_EQ(req.header("x-amz-security-token"), nullptr);

  HttpRequest again = s3_get();
  signing::Steps steps = signing::sigv4_sign_headers(again, kCreds, {"us-east-1", "s3"}, kNow, {});
  EXPECT_EQ(steps.canonical_request,
            "GET\n/dir/a%20b%2Bc.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:20130524T000000Z\n\n"
            "host;range;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD");
  EXPECT_EQ(*req.header("Authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            " SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=" +
                steps.signature);
}

TEST(SigV4S3, SessionTokenIsSentAndSigned) {
  Credentials creds = kCreds;
  creds.session_token = "token/with+chars";
  HttpRequest req = s3_get();
  make_sigv4_signer(creds, "us-east-1")->sign(req, kNow);
  ASSERT_NE(req.header("x-amz-security-token"), nullptr);
  EXPECT_EQ(*req.header("x-amz-security-token"), "token/with+chars");
  EXPECT_NE(req.header("Authorization")->find("x-amz-security-token"), std::string::npos);
}

TEST(SigV4S3, SigningAgainReplacesTheAuthHeaders) {
  HttpRequest req = s3_get();
  auto signer = make_sigv4_signer(kCreds, "us-east-1");
  signer->sign(req, kNow);
  signer->sign(req, kNow + std::chrono::seconds(5));  // a retry re-signs the same request
  int authorizations = 0;
  for (const auto& [name, value] : req.headers) authorizations += lower(name) == "authorization";
  EXPECT_EQ(authorizations, 1);
  EXPECT_EQ(*req.header("x-amz-date"), "20130524T000005Z");
}

TEST(SigV4S3, AnonymousCredentialsSignNothing) {
  HttpRequest req = s3_get();
  make_sigv4_signer(Credentials{}, "us-east-1")->sign(req, kNow);
  presign_sigv4(req, Credentials{}, "us-east-1", kNow, std::chrono::seconds(60));
  EXPECT_EQ(req.headers, s3_get().headers);
  EXPECT_TRUE(req.query.empty());
}

TEST(SigV4S3, PresignAddsTheQueryParameters) {
  HttpRequest req = s3_get();
  req.headers.clear();
  presign_sigv4(req, kCreds, "us-east-1", kNow, std::chrono::seconds(86400));
  std::map<std::string, std::string> params(req.query.begin(), req.query.end());
  EXPECT_EQ(params["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
  EXPECT_EQ(params["X-Amz-Credential"], "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request");
  EXPECT_EQ(params["X-Amz-Expires"], "86400");
  EXPECT_EQ(params["X-Amz-SignedHeaders"], "host");
  EXPECT_EQ(params["X-Amz-Signature"].size(), 64u);
  EXPECT_TRUE(req.headers.empty());

  HttpRequest again = s3_get();
  again.headers.clear();
  signing::Steps steps = signing::sigv4_presign(again, kCreds, {"us-east-1", "s3"}, kNow,
                                                std::chrono::seconds(86400), {});
  EXPECT_TRUE(steps.canonical_request.ends_with("\nhost\nUNSIGNED-PAYLOAD"));
  EXPECT_EQ(params["X-Amz-Signature"], steps.signature);
}

TEST(SigV4CanonicalUri, S3EncodesOnceAndKeepsDotsAndSlashes) {
  SigV4Options s3;
  EXPECT_EQ(signing::sigv4_canonical_uri("/a b/../c//d%e/", s3), "/a%20b/../c//d%25e/");
  EXPECT_EQ(signing::sigv4_canonical_uri("", s3), "/");
}

TEST(SigV4CanonicalUri, OtherServicesNormalizeAndEncodeTwice) {
  SigV4Options service{.normalize_path = true, .double_encode_path = true};
  EXPECT_EQ(signing::sigv4_canonical_uri("/a b/../c//d%e/", service), "/c/d%2525e/");
  EXPECT_EQ(signing::sigv4_canonical_uri("/x/y/..", service), "/x/");
  EXPECT_EQ(signing::sigv4_canonical_uri("/x/./y", service), "/x/y");
  EXPECT_EQ(signing::sigv4_canonical_uri("/../..", service), "/");
  EXPECT_EQ(signing::sigv4_canonical_uri("/a b", service), "/a%2520b");
}

TEST(SigV4CanonicalQuery, BareKeysGetAnEqualsSignAndSortingIsByKeyThenValue) {
  QueryList query = {{"uploads", ""}, {"b", "2"}, {"a", "y"}, {"a", "x"}, {"k/+", "v w"}};
  EXPECT_EQ(signing::sigv4_canonical_query(query), "a=x&a=y&b=2&k%2F%2B=v%20w&uploads=");
}

TEST(Hash, Sha256AndHmacSha256KnownAnswers) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231, test case 2.
  EXPECT_EQ(hex_encode(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hex_encode(std::string("\x00\x7f\x80\xff", 4)), "007f80ff");
}

TEST(Hash, IncrementalSha256MatchesOneShot) {
  Digest digest = Digest::sha256();
  digest.update("a");
  digest.update("bc");
  EXPECT_EQ(digest.finish(), sha256("abc"));
  digest.update("abc");  // finish() starts over
  EXPECT_EQ(digest.finish(), sha256("abc"));
}

}  // namespace
}  // namespace shoal
