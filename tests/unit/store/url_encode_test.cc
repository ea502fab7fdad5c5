// RFC 3986 encoding, decoding, the wire request target, and HttpRequest's header helpers.
#include <gtest/gtest.h>

#include <string>

#include "store/http_request.h"
#include "store/url_encode.h"

namespace shoal {
namespace {

TEST(UriEncode, KeepsOnlyTheUnreservedSet) {
  const std::string unreserved =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
  EXPECT_EQ(uri_encode(unreserved, true), unreserved);
  EXPECT_EQ(uri_encode(" !\"#$%&'()*+,:;<=>?@[\\]^`{|}", true),
            "%20%21%22%23%24%25%26%27%28%29%2A%2B%2C%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E%60%7B%7C"
            "%7D");
}

TEST(UriEncode, SlashIsKeptOnlyWhenAsked) {
  EXPECT_EQ(uri_encode("/a/b//c/", false), "/a/b//c/");
  EXPECT_EQ(uri_encode("/a/b", true), "%2Fa%2Fb");
}

TEST(UriEncode, Utf8BytesAreEncodedOneByOneInUpperCase) {
  EXPECT_EQ(uri_encode("\xE1\x88\xB4", true), "%E1%88%B4");
  EXPECT_EQ(uri_encode("caf\xC3\xA9", false), "caf%C3%A9");
  EXPECT_EQ(uri_encode(std::string("\x00\xff", 2), true), "%00%FF");
}

TEST(UriDecode, EveryByteRoundTrips) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (bool slash : {false, true}) {
    Result<std::string> back = uri_decode(uri_encode(all, slash));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, all);
  }
}

TEST(UriDecode, AcceptsLowerCaseHexAndKeepsPlusUnlessAsked) {
  EXPECT_EQ(*uri_decode("%e1%88%b4"), "\xE1\x88\xB4");
  EXPECT_EQ(*uri_decode("a+b%20c"), "a+b c");
  EXPECT_EQ(*uri_decode("a+b%2Bc", /*plus_as_space=*/true), "a b+c");
}

TEST(UriDecode, MalformedEscapesAreErrors) {
  for (const char* bad : {"%", "abc%", "%4", "%zz", "%g0", "a%2"}) {
    Result<std::string> r = uri_decode(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument) << bad;
  }
}

HttpRequest request(std::string path, QueryList query = {}) {
  HttpRequest req;
  req.path = std::move(path);
  req.query = std::move(query);
  return req;
}

TEST(RequestTarget, EncodesThePathKeepingSlashes) {
  EXPECT_EQ(request_target(request("/")), "/");
  EXPECT_EQ(request_target(request("")), "/");
  EXPECT_EQ(request_target(request("/bucket/dir//a b+c%d=e\xE2\x82\xAC.txt")),
            "/bucket/dir//a%20b%2Bc%25d%3De%E2%82%AC.txt");
  EXPECT_EQ(request_target(request("/a/../b/./c")), "/a/../b/./c");
}

TEST(RequestTarget, BareKeysHaveNoEqualsSignAndOrderIsKept) {
  EXPECT_EQ(request_target(request("/k", {{"uploads", ""}})), "/k?uploads");
  EXPECT_EQ(request_target(request("/k", {{"uploadId", "a/b+c"}, {"partNumber", "2"}})),
            "/k?uploadId=a%2Fb%2Bc&partNumber=2");
  EXPECT_EQ(
      request_target(request("/", {{"list-type", "2"}, {"prefix", "a b/"}, {"delimiter", "/"}})),
      "/?list-type=2&prefix=a%20b%2F&delimiter=%2F");
}

TEST(HttpRequestHeaders, LookupIsCaseInsensitive) {
  HttpRequest req;
  req.headers = {{"Content-Type", "text/plain"}, {"x-oss-meta-a", "1"}};
  ASSERT_NE(req.header("content-type"), nullptr);
  EXPECT_EQ(*req.header("CONTENT-TYPE"), "text/plain");
  EXPECT_EQ(*req.header("X-OSS-Meta-A"), "1");
  EXPECT_EQ(req.header("Content-Length"), nullptr);
}

TEST(HttpRequestHeaders, SetHeaderReplacesEveryCaseVariant) {
  HttpRequest req;
  req.headers = {{"Range", "bytes=0-1"}, {"x-amz-date", "old"}, {"X-Amz-Date", "older"}};
  req.set_header("X-Amz-Date", "new");
  EXPECT_EQ(req.headers, (HeaderList{{"Range", "bytes=0-1"}, {"X-Amz-Date", "new"}}));
  req.set_header("Authorization", "a");
  EXPECT_EQ(req.headers.size(), 3u);
  EXPECT_EQ(*req.header("authorization"), "a");
}

TEST(HttpResponseHeaders, LookupByLowerCaseName) {
  HttpResponse resp;
  resp.headers = {{"etag", "\"abc\""}, {"x-oss-hash-crc64ecma", "123"}};
  ASSERT_NE(resp.header("x-oss-hash-crc64ecma"), nullptr);
  EXPECT_EQ(*resp.header("x-oss-hash-crc64ecma"), "123");
  EXPECT_EQ(resp.header("content-length"), nullptr);
}

}  // namespace
}  // namespace shoal
