#include "store/rest/rest_xml.h"

#include <gtest/gtest.h>

#include <pugixml.hpp>

#include "store/rest/service_error.h"

namespace shoal {
namespace {

const char* kEncodedPage = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix>run+books/</Prefix><KeyCount>3</KeyCount><MaxKeys>2</MaxKeys>
  <EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents>
    <Key>run+books/a+b%2Bc%25d.txt</Key><LastModified>2024-03-01T12:34:56.789Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>1234</Size>
  </Contents>
  <Contents>
    <Key>run+books/%ED%95%9C%EA%B8%80.txt</Key><LastModified>2024-03-01T00:00:00Z</LastModified>
    <ETag>"abc-2"</ETag><Size>0</Size>
  </Contents>
  <CommonPrefixes><Prefix>run+books/sub+dir/</Prefix></CommonPrefixes>
</ListBucketResult>)";

TEST(RestXml, ListPageDecodesKeysWhenTheAnswerSaysUrl) {
  auto page = parse_list_objects_v2(kEncodedPage);
  ASSERT_TRUE(page.ok()) << page.error().describe();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "run books/a b+c%d.txt");
  EXPECT_EQ(page->objects[0].size, 1234u);
  EXPECT_EQ(page->objects[0].etag, "9b2cf535f27731c974343645a3985328");
  EXPECT_EQ(page->objects[0].mtime_ns, 1709296496789000000);
  EXPECT_EQ(page->objects[1].key, "run books/한글.txt");
  EXPECT_EQ(page->objects[1].etag, "abc-2");
  EXPECT_EQ(page->objects[1].size, 0u);
  EXPECT_EQ(page->common_prefixes, std::vector<std::string>{"run books/sub dir/"});
  EXPECT_EQ(page->next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(RestXml, ListPageKeepsKeysRawWithoutEncodingType) {
  // A server that ignored encoding-type=url (s3rver does) sends raw keys: decoding them would
  // turn a literal '+' into a space and "%41" into "A".
  const char* raw = R"(<ListBucketResult>
    <IsTruncated>false</IsTruncated>
    <Contents><Key>odd/a+b %41.txt</Key><Size>1</Size><ETag>"e"</ETag>
      <LastModified>2024-01-01T00:00:00.000Z</LastModified></Contents>
    <CommonPrefixes><Prefix>odd/x+y/</Prefix></CommonPrefixes>
  </ListBucketResult>)";
  auto page = parse_list_objects_v2(raw);
  ASSERT_TRUE(page.ok()) << page.error().describe();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "odd/a+b %41.txt");
  EXPECT_EQ(page->common_prefixes, std::vector<std::string>{"odd/x+y/"});
  EXPECT_TRUE(page->next_token.empty());
}

TEST(RestXml, ListPageRejectsWhatItCannotTrust) {
  auto truncated_without_token = parse_list_objects_v2(
      "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>");
  ASSERT_FALSE(truncated_without_token.ok());
  EXPECT_EQ(truncated_without_token.error().kind, ErrorKind::kServer);

  auto bad_size = parse_list_objects_v2(
      "<ListBucketResult><Contents><Key>k</Key><Size>12x</Size></Contents></ListBucketResult>");
  ASSERT_FALSE(bad_size.ok());
  EXPECT_NE(bad_size.error().message.find("Size"), std::string::npos);

  auto bad_escape = parse_list_objects_v2(
      "<ListBucketResult><EncodingType>url</EncodingType>"
      "<Contents><Key>k%zz</Key><Size>1</Size></Contents></ListBucketResult>");
  ASSERT_FALSE(bad_escape.ok());
  // Found by fuzzing (fuzz/corpus/rest_xml_fuzz/regression-bad-escape-is-server-error): the
  // decoder's kInvalidArgument leaked out, as if the caller's input were wrong.
  EXPECT_EQ(bad_escape.error().kind, ErrorKind::kServer);
  auto bad_prefix = parse_list_objects_v2(
      "<ListBucketResult><EncodingType>url</EncodingType>"
      "<CommonPrefixes><Prefix>d%</Prefix></CommonPrefixes></ListBucketResult>");
  ASSERT_FALSE(bad_prefix.ok());
  EXPECT_EQ(bad_prefix.error().kind, ErrorKind::kServer);

  auto not_xml = parse_list_objects_v2("<html>oops");
  ASSERT_FALSE(not_xml.ok());
  EXPECT_EQ(not_xml.error().kind, ErrorKind::kServer);
  auto wrong_root = parse_list_objects_v2("<Error><Code>AccessDenied</Code></Error>");
  ASSERT_FALSE(wrong_root.ok());
  EXPECT_NE(wrong_root.error().message.find("ListBucketResult"), std::string::npos);
}

TEST(RestXml, MultipartDocuments) {
  auto id = parse_initiate_multipart(
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
      "<UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "VXBsb2FkIElE");
  EXPECT_FALSE(parse_initiate_multipart("<InitiateMultipartUploadResult/>").ok());

  auto etag = parse_complete_multipart(
      "<CompleteMultipartUploadResult><ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>"
      "</CompleteMultipartUploadResult>");
  ASSERT_TRUE(etag.ok());
  EXPECT_EQ(*etag, "3858f62230ac3c915f300c664312c11f-9");

  auto parts = parse_list_parts(
      "<ListPartsResult><IsTruncated>true</IsTruncated>"
      "<NextPartNumberMarker>2</NextPartNumberMarker>"
      "<Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag><Size>5242880</Size>"
      "<HashCrc64ecma>1234567890123</HashCrc64ecma></Part>"
      "<Part><PartNumber>2</PartNumber><ETag>\"b\"</ETag><Size>10</Size></Part>"
      "</ListPartsResult>");
  ASSERT_TRUE(parts.ok()) << parts.error().describe();
  ASSERT_EQ(parts->parts.size(), 2u);
  EXPECT_EQ(parts->parts[0].number, 1);
  EXPECT_EQ(parts->parts[0].etag, "a");
  EXPECT_EQ(parts->parts[0].size, 5242880u);
  EXPECT_EQ(parts->parts[0].crc64, 1234567890123u);
  EXPECT_FALSE(parts->parts[1].crc64.has_value());
  EXPECT_EQ(parts->next_marker, 2);
}

TEST(RestXml, CompleteMultipartBodyListsThePartsInOrder) {
  std::vector<PartInfo> parts(3);
  for (int i = 0; i < 3; ++i) {
    parts[i].number = i + 1;
    parts[i].etag = "etag<" + std::to_string(i) + ">&";
  }
  std::string xml = complete_multipart_xml(parts);
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(xml.c_str()));
  int n = 0;
  for (pugi::xml_node p : doc.child("CompleteMultipartUpload").children("Part")) {
    EXPECT_EQ(p.child("PartNumber").text().as_int(), n + 1);
    EXPECT_EQ(std::string(p.child("ETag").text().as_string()),
              "\"etag<" + std::to_string(n) + ">&\"");
    ++n;
  }
  EXPECT_EQ(n, 3);
}

TEST(RestXml, TimesAndETags) {
  EXPECT_EQ(parse_iso8601_ns("1970-01-01T00:00:01Z"), 1000000000);
  EXPECT_EQ(parse_iso8601_ns("2024-03-01T12:34:56.5Z"), 1709296496500000000);
  EXPECT_FALSE(parse_iso8601_ns("2024-03-01 12:34:56").has_value());
  // Found by fuzzing (fuzz/corpus/rest_xml_fuzz/regression-year-overflows): a year whose
  // nanoseconds do not fit int64 overflowed; out-of-range fields were normalized silently.
  EXPECT_FALSE(parse_iso8601_ns("-999-01-01T00:00:00Z").has_value());
  EXPECT_FALSE(parse_iso8601_ns("9999-01-01T00:00:00Z").has_value());
  EXPECT_FALSE(parse_iso8601_ns("2024-13-01T00:00:00Z").has_value());
  EXPECT_FALSE(parse_iso8601_ns("2024-01-01T-1:00:00Z").has_value());
  EXPECT_EQ(parse_iso8601_ns("2261-12-31T23:59:59Z"), 9214646399000000000);
  EXPECT_FALSE(parse_iso8601_ns("2024-03-01T12:34:56+08:00").has_value());
  EXPECT_EQ(unquote_etag("\"abc\""), "abc");
  EXPECT_EQ(unquote_etag("abc"), "abc");
  EXPECT_EQ(unquote_etag("\""), "\"");
}

TEST(ServiceError, KindsFromCodesThenStatuses) {
  EXPECT_EQ(service_error_kind(404, "NoSuchKey"), ErrorKind::kNotFound);
  EXPECT_EQ(service_error_kind(404, "NoSuchBucket"), ErrorKind::kNotFound);
  EXPECT_EQ(service_error_kind(404, ""), ErrorKind::kNotFound);
  EXPECT_EQ(service_error_kind(403, "AccessDenied"), ErrorKind::kAccessDenied);
  EXPECT_EQ(service_error_kind(403, "InvalidAccessKeyId"), ErrorKind::kAccessDenied);
  EXPECT_EQ(service_error_kind(403, "SignatureDoesNotMatch"), ErrorKind::kAccessDenied);
  EXPECT_EQ(service_error_kind(403, ""), ErrorKind::kAccessDenied);
  EXPECT_EQ(service_error_kind(412, "PreconditionFailed"), ErrorKind::kPreconditionFailed);
  EXPECT_EQ(service_error_kind(304, ""), ErrorKind::kPreconditionFailed);
  EXPECT_EQ(service_error_kind(416, "InvalidRange"), ErrorKind::kRangeNotSatisfiable);
  EXPECT_EQ(service_error_kind(503, "SlowDown"), ErrorKind::kThrottled);
  EXPECT_EQ(service_error_kind(503, "TotalQpsLimitExceeded"), ErrorKind::kThrottled);
  EXPECT_EQ(service_error_kind(429, ""), ErrorKind::kThrottled);
  EXPECT_EQ(service_error_kind(500, "InternalError"), ErrorKind::kServer);
  EXPECT_EQ(service_error_kind(502, ""), ErrorKind::kServer);
  EXPECT_EQ(service_error_kind(501, "NotImplemented"), ErrorKind::kUnsupported);
  EXPECT_EQ(service_error_kind(409, "PositionNotEqualToLength"), ErrorKind::kPreconditionFailed);
  EXPECT_EQ(service_error_kind(400, "InvalidArgument"), ErrorKind::kInvalidArgument);
  EXPECT_EQ(service_error_kind(400, "RequestTimeout"), ErrorKind::kTimeout);
}

TEST(ServiceError, CarriesStatusCodeMessageAndRequestIdButNoSigningDetails) {
  HttpResponse r;
  r.status = 403;
  r.headers = {{"x-amz-request-id", "REQ-FROM-HEADER"}};
  r.body = R"(<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code>
<Message>The request signature we calculated does not match the signature you provided.</Message>
<AWSAccessKeyId>AKIDEXAMPLESECRETISH</AWSAccessKeyId>
<StringToSign>AWS4-HMAC-SHA256 20240101T000000Z</StringToSign>
<RequestId>REQ-FROM-BODY</RequestId></Error>)";
  Error e = service_error(r, "GetObject data/a.bin", "x-amz-request-id");
  EXPECT_EQ(e.kind, ErrorKind::kAccessDenied);
  EXPECT_EQ(e.http_status, 403);
  EXPECT_EQ(e.code, "SignatureDoesNotMatch");
  EXPECT_EQ(e.request_id, "REQ-FROM-HEADER");
  EXPECT_EQ(e.message.rfind("GetObject data/a.bin: The request signature", 0), 0u) << e.message;
  std::string text = e.describe();
  EXPECT_EQ(text.find("AKIDEXAMPLE"), std::string::npos) << text;
  EXPECT_EQ(text.find("AWS4-HMAC-SHA256"), std::string::npos) << text;

  r.headers.clear();
  EXPECT_EQ(service_error(r, "GetObject k", "x-amz-request-id").request_id, "REQ-FROM-BODY");
}

TEST(ServiceError, AnswerWithoutBodyStillSaysWhatFailed) {
  HttpResponse r;
  r.status = 404;  // HEAD answers carry no body
  r.headers = {{"x-oss-request-id", "5F00"}};
  Error e = service_error(r, "HeadObject data/missing", "x-oss-request-id");
  EXPECT_EQ(e.kind, ErrorKind::kNotFound);
  EXPECT_EQ(e.request_id, "5F00");
  EXPECT_NE(e.message.find("HeadObject data/missing"), std::string::npos);
  EXPECT_TRUE(e.code.empty());
}

// RGW names the error but leaves <Message> empty: the message then comes from the code and
// says what the user can do.
TEST(ServiceError, AnEmptyMessageIsWrittenFromTheCode) {
  struct Case {
    int status;
    const char* code;
    const char* advice;
  };
  for (const Case& c : {Case{403, "SignatureDoesNotMatch", "check the secret access key"},
                        Case{403, "InvalidAccessKeyId", "check the credentials"},
                        Case{403, "RequestTimeTooSkewed", "check this machine's clock"},
                        Case{400, "BadDigest", "upload it again"},
                        Case{400, "XAmzContentSHA256Mismatch", "upload it again"},
                        Case{403, "AccessDenied", "check the credentials and the bucket policy"}}) {
    HttpResponse r;
    r.status = c.status;
    r.body = std::string("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>") + c.code +
             "</Code><Message></Message><RequestId>tx00</RequestId></Error>";
    Error e = service_error(r, "PutObject k", "x-amz-request-id");
    EXPECT_EQ(e.code, c.code);
    EXPECT_EQ(e.message.rfind("PutObject k: ", 0), 0u) << e.message;
    EXPECT_NE(e.message.find(c.advice), std::string::npos) << c.code << ": " << e.message;
  }
}

}  // namespace
}  // namespace shoal
