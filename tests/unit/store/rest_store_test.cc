// The oss:// and s3:// REST store against a scripted loopback server: what s3rver cannot show.
// OSS answers (CRC-64, AppendObject, x-oss-range-behavior, V4 Authorization), throttling and
// retry budgets, truncated bodies, failed signatures, If-Match mismatches and URL-encoded or
// paged listings. Assertions are on what went over the wire and how many requests it took,
// never on time.
#include "store/rest/body_digest.h"
#include "store/rest/rest_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <regex>

#include "common/poll_reactor.h"
#include "store/crc64.h"
#include "store/hash.h"
#include "tests/support/http_test_server.h"

namespace shoal {
namespace {

using Request = HttpTestServer::Request;
using Reply = HttpTestServer::Reply;
using std::chrono::milliseconds;

constexpr const char* kBucket = "bkt";
constexpr const char* kKeyId = "LTAI5tFAKEKEYID";
constexpr const char* kSecret = "fake-secret-never-shown-0123456789";
constexpr const char* kToken = "fake-sts-token-never-shown";
// A tiny budget so scripted failures end at once. Jitter alone stays within 1 ms on the first
// retry, so a wait of exactly a server's delay (or of the cap) shows the server was heeded.
constexpr RetryPolicy kRetry{.max_attempts = 3, .base = milliseconds(1), .cap = milliseconds(37)};

// A PollReactor that remembers every timer's delay: the retry waits become visible without
// measuring time.
class TimerLoggingReactor final : public Reactor {
 public:
  void watch(int fd, uint32_t events, FdCallback cb) override {
    loop_.watch(fd, events, std::move(cb));
  }
  void unwatch(int fd) override { loop_.unwatch(fd); }
  TimerId add_timer(milliseconds delay, std::function<void()> cb) override {
    delays_.push_back(delay);
    return loop_.add_timer(delay, std::move(cb));
  }
  void cancel_timer(TimerId id) override { loop_.cancel_timer(id); }
  void post(std::function<void()> fn) override { loop_.post(std::move(fn)); }

  bool run_until(const std::function<bool()>& done) { return loop_.run_until(done); }
  bool set_a_timer_of(milliseconds delay) const {
    return std::find(delays_.begin(), delays_.end(), delay) != delays_.end();
  }

 private:
  PollReactor loop_;
  std::vector<milliseconds> delays_;
};

std::string error_xml(std::string_view code, std::string_view message,
                      std::string_view extra_elements = "") {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + std::string(code) +
         "</Code><Message>" + std::string(message) + "</Message>" + std::string(extra_elements) +
         "<RequestId>REQ-IN-BODY</RequestId></Error>";
}

// A service error answer carrying x-oss-request-id (which wins over the body's RequestId).
Reply oss_error(int status, std::string_view code, std::string_view request_id,
                std::string extra_headers = "") {
  return Reply{http_reply(status, error_xml(code, "scripted " + std::string(code)),
                          "x-oss-request-id: " + std::string(request_id) + "\r\n" +
                              extra_headers)};
}

Reply ok_with(std::string_view body, std::string headers = "") {
  return Reply{http_reply(200, body, headers)};
}

std::string crc_header(uint64_t crc) {
  return "x-oss-hash-crc64ecma: " + std::to_string(crc) + "\r\n";
}

struct Listed {
  std::string key;
  uint64_t size = 1;
};

std::string list_xml(const std::vector<Listed>& contents, const std::vector<std::string>& prefixes,
                     bool url_encoded, std::string_view next_token = "") {
  std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>bkt</Name>";
  if (url_encoded) xml += "<EncodingType>url</EncodingType>";
  xml += next_token.empty() ? "<IsTruncated>false</IsTruncated>"
                            : "<IsTruncated>true</IsTruncated><NextContinuationToken>" +
                                  std::string(next_token) + "</NextContinuationToken>";
  for (const Listed& c : contents)
    xml += "<Contents><Key>" + c.key + "</Key><LastModified>2024-03-01T12:34:56.000Z" +
           "</LastModified><ETag>\"e\"</ETag><Size>" + std::to_string(c.size) +
           "</Size></Contents>";
  for (const std::string& p : prefixes)
    xml += "<CommonPrefixes><Prefix>" + p + "</Prefix></CommonPrefixes>";
  return xml + "</ListBucketResult>";
}

std::vector<std::string> keys_of(const ListPage& page) {
  std::vector<std::string> keys;
  for (const ObjectInfo& o : page.objects) keys.push_back(o.key);
  return keys;
}

// The value after "Signature=" in an Authorization header, or "".
std::string signature_in(const Request& r) {
  const std::string* auth = r.header("Authorization");
  if (auth == nullptr) return "";
  size_t at = auth->rfind("Signature=");
  return at == std::string::npos ? "" : auth->substr(at + 10);
}

class RestStoreTest : public ::testing::Test {
 protected:
  // Serves `handler` and opens a store of `scheme` on it, replacing any earlier pair.
  void serve(HttpTestServer::Handler handler, ObjectUri::Scheme scheme = ObjectUri::Scheme::kOss) {
    store_.reset();
    server_ = std::make_unique<HttpTestServer>(std::move(handler));
    StoreConfig config;
    config.endpoint = server_->endpoint();
    config.region = "cn-hangzhou";
    config.credentials = Credentials{kKeyId, kSecret, kToken};
    config.retry = kRetry;
    ObjectUri uri{.scheme = scheme, .bucket = kBucket};
    auto store = RestStore::create(uri, config, loop_);
    ASSERT_TRUE(store.ok()) << store.error().describe();
    store_ = std::move(store).value();
  }
  void serve(std::vector<Reply> replies, ObjectUri::Scheme scheme = ObjectUri::Scheme::kOss) {
    serve(HttpTestServer::script(std::move(replies)), scheme);
  }

  template <class T, class Start>
  Result<T> run(Start start) {
    std::optional<Result<T>> out;
    start(Done<T>([&out](Result<T> r) { out.emplace(std::move(r)); }));
    if (!loop_.run_until([&out] { return out.has_value(); }))
      return Error(ErrorKind::kInternal, "the reactor went idle before the operation finished");
    return std::move(*out);
  }
  Result<GetReply> get(GetQuery q) {
    return run<GetReply>([&](Done<GetReply> d) { store_->get(q, d); });
  }
  Result<PutReply> put(const std::string& key, std::string data) {
    return run<PutReply>([&](Done<PutReply> d) { store_->put(key, Body::from_string(data), d); });
  }
  Result<PutReply> append(const std::string& key, uint64_t position, std::string data) {
    return run<PutReply>(
        [&](Done<PutReply> d) { store_->append(key, position, Body::from_string(data), d); });
  }
  Result<ListPage> list(ListQuery q) {
    return run<ListPage>([&](Done<ListPage> d) { store_->list(q, d); });
  }

  // Neither the secret key, the session token nor any signature sent may reach an error.
  void expect_no_secrets(const Error& error) {
    std::string text = error.describe() + " " + error.code + " " + error.request_id;
    EXPECT_EQ(text.find(kSecret), std::string::npos) << text;
    EXPECT_EQ(text.find(kToken), std::string::npos) << text;
    for (const Request& r : server_->received()) {
      std::string signature = signature_in(r);
      ASSERT_FALSE(signature.empty()) << "an unsigned request: " << r.target;
      EXPECT_EQ(text.find(signature), std::string::npos) << text;
    }
  }

  TimerLoggingReactor loop_;
  std::unique_ptr<HttpTestServer> server_;
  std::unique_ptr<RestStore> store_;  // destroyed first: it unwatches the loop's fds
};

// Asserts `result` failed with `kind`, and returns its error.
template <class T>
Error failure_of(const Result<T>& result, ErrorKind kind) {
  if (result.ok()) {
    ADD_FAILURE() << "the operation succeeded";
    return Error();
  }
  EXPECT_EQ(result.error().kind, kind) << result.error().describe();
  return result.error();
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

TEST_F(RestStoreTest, OssGetAcceptsABodyMatchingItsCrc64) {
  std::string data = "the object's bytes";
  serve({ok_with(data, crc_header(crc64(data)) + "ETag: \"e1\"\r\n")});
  auto got = get(GetQuery{.key = "dir/obj"});
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(got->data, data);
  EXPECT_EQ(got->info.crc64, crc64(data));
  EXPECT_EQ(got->info.etag, "e1");
  EXPECT_EQ(server_->requests(), 1);
  EXPECT_EQ(server_->received()[0].target, "/bkt/dir/obj");
}

TEST_F(RestStoreTest, OssGetRetriesABodyFailingItsCrc64ThenGivesUpWithIntegrity) {
  std::string data = "the object's bytes";
  Reply damaged = ok_with(data, crc_header(crc64(data) ^ 1) + "x-oss-request-id: REQ-CRC\r\n");
  serve({damaged, ok_with(data, crc_header(crc64(data)))});
  auto healed = get(GetQuery{.key = "k"});
  ASSERT_TRUE(healed.ok()) << "damaged in transit, so worth one more try: "
                           << healed.error().describe();
  EXPECT_EQ(healed->data, data);
  EXPECT_EQ(server_->requests(), 2);

  serve({damaged});
  Error e = failure_of(get(GetQuery{.key = "k"}), ErrorKind::kIntegrity);
  EXPECT_EQ(server_->requests(), kRetry.max_attempts);
  EXPECT_TRUE(contains(e.message, "x-oss-hash-crc64ecma")) << e.describe();
  EXPECT_TRUE(contains(e.message, "gave up after 3 attempts")) << e.describe();
  EXPECT_EQ(e.request_id, "REQ-CRC");
  expect_no_secrets(e);
}

TEST_F(RestStoreTest, OssPutSendsNoMd5AndChecksTheCrc64TheServerStored) {
  auto stores_what_it_got = [](const Request& r) {
    return ok_with("", crc_header(crc64(r.body)) + "ETag: \"p1\"\r\n");
  };
  serve(stores_what_it_got);
  auto put_ok = put("dir/obj", "payload");
  ASSERT_TRUE(put_ok.ok()) << put_ok.error().describe();
  EXPECT_EQ(put_ok->crc64, crc64("payload"));
  EXPECT_EQ(put_ok->etag, "p1");
  Request sent = server_->received().at(0);
  EXPECT_EQ(sent.method, "PUT");
  EXPECT_EQ(sent.target, "/bkt/dir/obj");
  EXPECT_EQ(sent.body, "payload");
  EXPECT_EQ(sent.header("Content-MD5"), nullptr) << "OSS uploads are checked by CRC-64";

  serve({ok_with("", crc_header(crc64("payload") + 1))});
  Error e = failure_of(put("dir/obj", "payload"), ErrorKind::kIntegrity);
  EXPECT_EQ(server_->requests(), kRetry.max_attempts) << "a damaged upload is sent again";
  EXPECT_TRUE(contains(e.message, "PutObject dir/obj")) << e.describe();
  for (const Request& r : server_->received()) EXPECT_EQ(r.body, "payload");
  expect_no_secrets(e);
}

TEST_F(RestStoreTest, S3PutSendsContentMd5AndNoOssHeaders) {
  serve({ok_with("", "ETag: \"s1\"\r\n")}, ObjectUri::Scheme::kS3);
  auto put_ok = put("dir/obj", "payload");
  ASSERT_TRUE(put_ok.ok()) << put_ok.error().describe();
  Request sent = server_->received().at(0);
  ASSERT_NE(sent.header("Content-MD5"), nullptr);
  EXPECT_EQ(*sent.header("Content-MD5"), base64_encode(md5("payload")));
  ASSERT_NE(sent.header("Authorization"), nullptr);
  EXPECT_TRUE(sent.header("Authorization")->starts_with("AWS4-HMAC-SHA256 Credential=" +
                                                        std::string(kKeyId) + "/"));
  for (const auto& [name, value] : sent.headers)
    EXPECT_FALSE(name.starts_with("x-oss-") || name.starts_with("X-Oss-")) << name;
}

// A caller that checksummed the body already (the writer, on a worker thread) hands the
// digests over; the store sends them instead of reading the body again.
TEST_F(RestStoreTest, PrecomputedDigestsAreSentAsGiven) {
  Body body = Body::from_string("payload");
  ASSERT_TRUE(add_upload_digests(body, true, true).ok());
  EXPECT_EQ(body.content_md5, base64_encode(md5("payload")));
  EXPECT_EQ(body.crc64, crc64("payload"));
  Body crc_only = Body::from_string("payload");
  ASSERT_TRUE(add_upload_digests(crc_only, false, true).ok());
  EXPECT_FALSE(crc_only.content_md5.has_value());
  EXPECT_EQ(crc_only.crc64, crc64("payload"));

  serve({ok_with("", "ETag: \"s1\"\r\n")}, ObjectUri::Scheme::kS3);
  Body marked = Body::from_string("payload");
  marked.content_md5 = "bWFya2VkIGFzIGdpdmVuIQ==";  // not the payload's: proves it was not recomputed
  auto sent_md5 = run<PutReply>([&](Done<PutReply> d) { store_->put("k", marked, d); });
  ASSERT_TRUE(sent_md5.ok()) << sent_md5.error().describe();
  ASSERT_NE(server_->received().at(0).header("Content-MD5"), nullptr);
  EXPECT_EQ(*server_->received().at(0).header("Content-MD5"), "bWFya2VkIGFzIGdpdmVuIQ==");

  serve({ok_with("", crc_header(12345))});
  Body crc_given = Body::from_string("payload");
  crc_given.crc64 = 12345;  // the server "stored" 12345: it matches what the caller said
  auto checked = run<PutReply>([&](Done<PutReply> d) { store_->put("k", crc_given, d); });
  ASSERT_TRUE(checked.ok()) << checked.error().describe();
  EXPECT_EQ(checked->crc64, 12345u);
}

TEST_F(RestStoreTest, OssRangedGetAsksForStandardRangeBehaviour) {
  std::string object(100, '\0');
  for (size_t i = 0; i < object.size(); ++i) object[i] = static_cast<char>('a' + i % 26);
  serve({Reply{http_reply(206, object.substr(10, 5), "Content-Range: bytes 10-14/100\r\n")},
         ok_with(object, crc_header(crc64(object)))});
  auto ranged = get(GetQuery{.key = "k", .range = ByteRange{10, 5}});
  ASSERT_TRUE(ranged.ok()) << ranged.error().describe();
  EXPECT_EQ(ranged->data, object.substr(10, 5));
  EXPECT_EQ(ranged->offset, 10u);
  EXPECT_EQ(ranged->info.size, 100u);
  auto whole = get(GetQuery{.key = "k"});
  ASSERT_TRUE(whole.ok()) << whole.error().describe();

  std::vector<Request> sent = server_->received();
  ASSERT_EQ(sent.size(), 2u);
  ASSERT_NE(sent[0].header("Range"), nullptr);
  EXPECT_EQ(*sent[0].header("Range"), "bytes=10-14");
  ASSERT_NE(sent[0].header("x-oss-range-behavior"), nullptr);
  EXPECT_EQ(*sent[0].header("x-oss-range-behavior"), "standard");
  EXPECT_EQ(sent[1].header("Range"), nullptr);
  EXPECT_EQ(sent[1].header("x-oss-range-behavior"), nullptr);
}

// With memory to write into, the asked bytes land there: a range (206), a whole object whose
// CRC-64 is checked where it landed, a retry after a truncated body; a server that answers a
// range from an offset with the whole object (200) gets the bytes returned as data instead.
TEST_F(RestStoreTest, GetBodiesLandInTheCallersMemory) {
  std::string object(100, '\0');
  for (size_t i = 0; i < object.size(); ++i) object[i] = static_cast<char>('a' + i % 26);
  Reply cut{"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-59/100\r\n"
            "Content-Length: 50\r\n\r\nshort",
            /*close=*/true};
  serve({Reply{http_reply(206, object.substr(10, 50), "Content-Range: bytes 10-59/100\r\n")},
         ok_with(object, crc_header(crc64(object))), cut,
         Reply{http_reply(206, object.substr(10, 50), "Content-Range: bytes 10-59/100\r\n")},
         ok_with(object)});
  std::string a(30, '-'), b(90, '-');
  auto query = [&](std::optional<ByteRange> range) {
    GetQuery q{.key = "k", .range = range};
    q.into = {iovec{a.data(), a.size()}, iovec{b.data(), b.size()}};
    return q;
  };
  auto ranged = get(query(ByteRange{10, 50}));
  ASSERT_TRUE(ranged.ok()) << ranged.error().describe();
  EXPECT_TRUE(ranged->in_place);
  EXPECT_EQ(ranged->placed, 50u);
  EXPECT_TRUE(ranged->data.empty());
  EXPECT_EQ((a + b).substr(0, 50), object.substr(10, 50));

  auto whole = get(query(std::nullopt));  // OSS: the CRC-64 is checked on the placed bytes
  ASSERT_TRUE(whole.ok()) << whole.error().describe();
  EXPECT_TRUE(whole->in_place);
  EXPECT_EQ((a + b).substr(0, 100), object);

  a.assign(30, '-');
  b.assign(90, '-');
  auto retried = get(query(ByteRange{10, 50}));
  ASSERT_TRUE(retried.ok()) << retried.error().describe();
  EXPECT_TRUE(retried->in_place);
  EXPECT_EQ((a + b).substr(0, 50), object.substr(10, 50));

  auto ignored_range = get(query(ByteRange{10, std::nullopt}));  // to the end: 200 is fine
  ASSERT_TRUE(ignored_range.ok()) << ignored_range.error().describe();
  EXPECT_FALSE(ignored_range->in_place);
  EXPECT_EQ(ignored_range->data, object.substr(10));
}

TEST_F(RestStoreTest, S3RangedGetSendsNoOssRangeBehaviour) {
  serve({Reply{http_reply(206, "bcd", "Content-Range: bytes 1-3/10\r\n")}},
        ObjectUri::Scheme::kS3);
  auto ranged = get(GetQuery{.key = "k", .range = ByteRange{1, 3}});
  ASSERT_TRUE(ranged.ok()) << ranged.error().describe();
  EXPECT_EQ(ranged->data, "bcd");
  EXPECT_EQ(server_->received().at(0).header("x-oss-range-behavior"), nullptr);
}

TEST_F(RestStoreTest, OssV4AuthorizationHeaderHasTheDocumentedShape) {
  serve({ok_with("x")});
  ASSERT_TRUE(get(GetQuery{.key = "dir/obj"}).ok());
  Request sent = server_->received().at(0);
  ASSERT_NE(sent.header("Authorization"), nullptr);
  ASSERT_NE(sent.header("x-oss-date"), nullptr);
  const std::regex authorization(
      "OSS4-HMAC-SHA256 Credential=LTAI5tFAKEKEYID/([0-9]{8})/cn-hangzhou/oss/aliyun_v4_request"
      "(,AdditionalHeaders=[a-z0-9-]+(;[a-z0-9-]+)*)?,Signature=[0-9a-f]{64}");
  std::smatch auth_parts;
  ASSERT_TRUE(std::regex_match(*sent.header("Authorization"), auth_parts, authorization))
      << "Authorization does not have the OSS V4 shape";
  std::smatch date_parts;
  ASSERT_TRUE(std::regex_match(*sent.header("x-oss-date"), date_parts,
                               std::regex("([0-9]{8})T[0-9]{6}Z")))
      << *sent.header("x-oss-date");
  EXPECT_EQ(auth_parts[1], date_parts[1]) << "the credential scope is dated by x-oss-date";
  ASSERT_NE(sent.header("x-oss-content-sha256"), nullptr);
  EXPECT_EQ(*sent.header("x-oss-content-sha256"), "UNSIGNED-PAYLOAD");
  ASSERT_NE(sent.header("x-oss-security-token"), nullptr);
  EXPECT_EQ(*sent.header("x-oss-security-token"), kToken);
  ASSERT_NE(sent.header("Host"), nullptr);
  EXPECT_EQ(*sent.header("Host"), server_->host());
  EXPECT_FALSE(contains(store_->describe(), kKeyId) || contains(store_->describe(), kSecret));
}

TEST_F(RestStoreTest, OssAppendObjectTracksThePosition) {
  serve({ok_with("", "x-oss-next-append-position: 3\r\nETag: \"a1\"\r\n" +
                         crc_header(crc64("abc"))),
         ok_with("", "x-oss-next-append-position: 5\r\n"),
         ok_with("")});
  auto first = append("log/a", 0, "abc");
  ASSERT_TRUE(first.ok()) << first.error().describe();
  EXPECT_EQ(first->next_append_position, 3u);
  EXPECT_EQ(first->etag, "a1");
  EXPECT_EQ(first->crc64, crc64("abc"));
  auto second = append("log/a", 3, "de");
  ASSERT_TRUE(second.ok()) << second.error().describe();
  EXPECT_EQ(second->next_append_position, 5u);

  std::vector<Request> sent = server_->received();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].method, "POST");
  EXPECT_EQ(sent[0].target, "/bkt/log/a?append&position=0");
  EXPECT_EQ(sent[0].body, "abc");
  EXPECT_EQ(sent[1].target, "/bkt/log/a?append&position=3");
  EXPECT_EQ(sent[1].body, "de");

  Error e = failure_of(append("log/a", 5, "f"), ErrorKind::kServer);
  EXPECT_TRUE(contains(e.message, "x-oss-next-append-position")) << e.describe();
  EXPECT_EQ(server_->requests(), 3) << "an unreadable answer is not retried";
}

TEST_F(RestStoreTest, OssAppendAtAStalePositionIsAPreconditionFailureWithoutRetry) {
  serve({oss_error(409, "PositionNotEqualToLength", "REQ-409",
                   "x-oss-next-append-position: 5\r\n")});
  Error e = failure_of(append("log/a", 3, "x"), ErrorKind::kPreconditionFailed);
  EXPECT_EQ(e.http_status, 409);
  EXPECT_EQ(e.code, "PositionNotEqualToLength");
  EXPECT_EQ(e.request_id, "REQ-409");
  EXPECT_TRUE(contains(e.message, "AppendObject log/a at 3")) << e.describe();
  EXPECT_EQ(server_->requests(), 1);
  expect_no_secrets(e);
}

TEST_F(RestStoreTest, SlowDownIsRetriedOnceHonouringRetryAfter) {
  serve({oss_error(503, "SlowDown", "REQ-503", "Retry-After: 1\r\n"), ok_with("data")});
  auto got = get(GetQuery{.key = "k"});
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(got->data, "data");
  EXPECT_EQ(server_->requests(), 2);
  // Retry-After asked for 1 s; jitter alone waits at most 1 ms here, so a wait stretched to
  // the policy's cap is the server's request, bounded by the cap.
  EXPECT_TRUE(loop_.set_a_timer_of(kRetry.cap));
}

TEST_F(RestStoreTest, QosDelayOfA429IsHonoured) {
  serve({oss_error(429, "TooManyRequests", "REQ-429", "x-oss-qos-delay-time: 23\r\n"),
         ok_with("data")});
  auto got = get(GetQuery{.key = "k"});
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(server_->requests(), 2);
  EXPECT_TRUE(loop_.set_a_timer_of(milliseconds(23)));
}

TEST_F(RestStoreTest, InternalErrorsGiveUpAfterMaxAttemptsWithTheRequestId) {
  serve({oss_error(500, "InternalError", "REQ-500")});
  Error e = failure_of(get(GetQuery{.key = "k"}), ErrorKind::kServer);
  EXPECT_EQ(server_->requests(), kRetry.max_attempts);
  EXPECT_EQ(e.http_status, 500);
  EXPECT_EQ(e.code, "InternalError");
  EXPECT_TRUE(contains(e.describe(), "request REQ-500")) << e.describe();
  EXPECT_TRUE(contains(e.message, "GetObject k")) << e.describe();
  EXPECT_TRUE(contains(e.message, "gave up after 3 attempts")) << e.describe();
  EXPECT_FALSE(loop_.set_a_timer_of(kRetry.cap)) << "no server delay: the waits stay jitter's";
  expect_no_secrets(e);
}

TEST_F(RestStoreTest, ThrottlingThatNeverEndsGivesUpAsThrottled) {
  serve({oss_error(503, "SlowDown", "REQ-SLOW")});
  Error e = failure_of(get(GetQuery{.key = "k"}), ErrorKind::kThrottled);
  EXPECT_EQ(server_->requests(), kRetry.max_attempts);
  EXPECT_TRUE(contains(e.describe(), "request REQ-SLOW")) << e.describe();
  EXPECT_TRUE(contains(e.message, "gave up after 3 attempts")) << e.describe();
  expect_no_secrets(e);
}

TEST_F(RestStoreTest, SignatureMismatchIsAccessDeniedAfterOneRequest) {
  // OSS echoes what it was given; none of it may reach the error.
  serve([](const Request& r) {
    std::string details = "<OSSAccessKeyId>" + std::string(kKeyId) + "</OSSAccessKeyId>" +
                          "<SignatureProvided>" + signature_in(r) + "</SignatureProvided>" +
                          "<StringToSign>OSS4-HMAC-SHA256\n20240101T000000Z</StringToSign>";
    return Reply{http_reply(403, error_xml("SignatureDoesNotMatch", "signature mismatch", details),
                            "x-oss-request-id: REQ-403\r\n")};
  });
  Error e = failure_of(get(GetQuery{.key = "k"}), ErrorKind::kAccessDenied);
  EXPECT_EQ(server_->requests(), 1) << "bad credentials are not retried";
  EXPECT_EQ(e.code, "SignatureDoesNotMatch");
  EXPECT_EQ(e.request_id, "REQ-403");
  EXPECT_FALSE(contains(e.describe(), "OSS4-HMAC-SHA256")) << e.describe();
  expect_no_secrets(e);
}

TEST_F(RestStoreTest, TruncatedBodyIsRetried) {
  std::string data(100, 'z');
  Reply cut{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b", /*close=*/true};
  serve({cut, ok_with(data)});
  auto got = get(GetQuery{.key = "k"});
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(got->data, data);
  EXPECT_EQ(server_->requests(), 2);
}

TEST_F(RestStoreTest, IfMatchMismatchIsAPreconditionFailureWithoutRetry) {
  // A server that ignores If-Match and sends another version, then one that honours it.
  serve({ok_with("v2 bytes", "ETag: \"v2\"\r\n"), oss_error(412, "PreconditionFailed", "R")});
  Error ignored = failure_of(get(GetQuery{.key = "k", .if_match = "v1"}),
                             ErrorKind::kPreconditionFailed);
  EXPECT_TRUE(contains(ignored.message, "v2")) << ignored.describe();
  EXPECT_EQ(server_->requests(), 1);
  Error refused = failure_of(get(GetQuery{.key = "k", .if_match = "v1"}),
                             ErrorKind::kPreconditionFailed);
  EXPECT_EQ(refused.http_status, 412);
  EXPECT_EQ(server_->requests(), 2);
  for (const Request& r : server_->received()) {
    ASSERT_NE(r.header("If-Match"), nullptr);
    EXPECT_EQ(*r.header("If-Match"), "\"v1\"");
  }
  expect_no_secrets(ignored);
}

TEST_F(RestStoreTest, ListingDecodesKeysOnlyWhenTheAnswerSaysUrl) {
  serve({ok_with(list_xml({{"dir/a%20b"}, {"dir/c%2Bd"}, {"dir/e+f"}, {"dir/%E6%97%A5"}},
                          {"dir/x%25y/"}, /*url_encoded=*/true)),
         ok_with(list_xml({{"dir/lit%41"}, {"dir/plus+kept"}}, {"dir/p%20q/"},
                          /*url_encoded=*/false))});
  auto decoded = list(ListQuery{.prefix = "dir/", .delimiter = "/"});
  ASSERT_TRUE(decoded.ok()) << decoded.error().describe();
  EXPECT_EQ(keys_of(*decoded),
            (std::vector<std::string>{"dir/a b", "dir/c+d", "dir/e f", "dir/日"}));
  EXPECT_EQ(decoded->common_prefixes, std::vector<std::string>{"dir/x%y/"});

  auto raw = list(ListQuery{.prefix = "dir/", .delimiter = "/"});
  ASSERT_TRUE(raw.ok()) << raw.error().describe();
  EXPECT_EQ(keys_of(*raw), (std::vector<std::string>{"dir/lit%41", "dir/plus+kept"}));
  EXPECT_EQ(raw->common_prefixes, std::vector<std::string>{"dir/p%20q/"});

  EXPECT_EQ(server_->received().at(0).target,
            "/bkt/?list-type=2&prefix=dir%2F&delimiter=%2F&max-keys=1000&encoding-type=url");
}

TEST_F(RestStoreTest, ListingFollowsNextContinuationToken) {
  serve({ok_with(list_xml({{"dir/a", 1}, {"dir/b", 2}}, {}, false, "tok/1+==")),
         ok_with(list_xml({{"dir/c", 3}}, {}, false))});
  ListQuery q{.prefix = "dir/", .start_after = "dir/0", .max_keys = 2};
  std::vector<std::string> keys;
  int pages = 0;
  do {
    auto page = list(q);
    ASSERT_TRUE(page.ok()) << page.error().describe();
    ++pages;
    for (const std::string& k : keys_of(*page)) keys.push_back(k);
    q.continuation_token = page->next_token;
  } while (!q.continuation_token.empty() && pages < 5);
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(keys, (std::vector<std::string>{"dir/a", "dir/b", "dir/c"}));
  std::vector<Request> sent = server_->received();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_TRUE(contains(sent[0].query(), "&start-after=dir%2F0&")) << sent[0].target;
  EXPECT_FALSE(contains(sent[0].query(), "continuation-token")) << sent[0].target;
  EXPECT_TRUE(contains(sent[1].query(), "&continuation-token=tok%2F1%2B%3D%3D&"))
      << sent[1].target;
  EXPECT_FALSE(contains(sent[1].query(), "start-after")) << "the token alone says where to go on";
  EXPECT_TRUE(contains(sent[1].query(), "&max-keys=2&")) << sent[1].target;
}

TEST_F(RestStoreTest, ListPartsOnAServerWithoutItIsUnsupported) {
  serve({Reply{http_reply(405, error_xml("MethodNotAllowed", "not allowed"))}},
        ObjectUri::Scheme::kS3);
  Error e = failure_of(run<std::vector<PartInfo>>([&](Done<std::vector<PartInfo>> d) {
                         store_->list_parts("big", "upload-1", d);
                       }),
                       ErrorKind::kUnsupported);
  EXPECT_TRUE(contains(e.message, "ListParts big")) << e.describe();
  EXPECT_EQ(server_->requests(), 1) << "a missing call is not retried";
  EXPECT_EQ(server_->received().at(0).target, "/bkt/big?uploadId=upload-1");
}

}  // namespace
}  // namespace shoal
