#include "store/rest/rest_store.h"

#include <arpa/inet.h>
#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdio>

#include "store/crc64.h"
#include "store/rest/body_digest.h"
#include "store/rest/rest_xml.h"
#include "store/rest/service_error.h"

namespace shoal {
namespace {

constexpr std::string_view kCrcHeader = "x-oss-hash-crc64ecma";

std::optional<uint64_t> parse_u64(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<uint64_t> header_u64(const HttpResponse& r, std::string_view name) {
  const std::string* value = r.header(name);
  return value ? parse_u64(*value) : std::nullopt;
}

std::string header_or_empty(const HttpResponse& r, std::string_view name) {
  const std::string* value = r.header(name);
  return value ? *value : std::string();
}

// "host", "host:port", "[v6]:port" → whether the host part is an IP address or localhost.
bool is_ip_or_localhost(std::string_view host_port) {
  if (host_port.starts_with('[')) return true;  // only IPv6 literals are bracketed
  std::string host(host_port.substr(0, host_port.find(':')));
  in_addr v4;
  return host == "localhost" || inet_pton(AF_INET, host.c_str(), &v4) == 1;
}

// "oss-cn-hangzhou.aliyuncs.com" or "oss-cn-hangzhou-internal.aliyuncs.com" → "cn-hangzhou".
std::string oss_region_from_host(std::string_view host) {
  constexpr std::string_view kSuffix = ".aliyuncs.com";
  if (!host.starts_with("oss-") || !host.ends_with(kSuffix)) return "";
  std::string_view region = host.substr(4, host.size() - 4 - kSuffix.size());
  if (region.ends_with("-internal")) region.remove_suffix(9);
  return std::string(region);
}

int64_t http_date_ns(const std::string* text) {
  if (text == nullptr) return 0;
  time_t t = curl_getdate(text->c_str(), nullptr);
  return t < 0 ? 0 : static_cast<int64_t>(t) * 1000000000;
}

ObjectInfo info_from_headers(std::string key, const HttpResponse& r, uint64_t size) {
  ObjectInfo info;
  info.key = std::move(key);
  info.size = size;
  info.etag = unquote_etag(header_or_empty(r, "etag"));
  info.mtime_ns = http_date_ns(r.header("last-modified"));
  info.crc64 = header_u64(r, kCrcHeader);
  return info;
}

std::string range_text(const ByteRange& range) {
  std::string text = "bytes=" + std::to_string(range.offset) + "-";
  if (range.length) text += std::to_string(range.offset + *range.length - 1);
  return text;
}

// Where the asked bytes sit in a GET answer, and how large the whole object is.
struct GetSpan {
  uint64_t body_offset = 0;
  uint64_t length = 0;
  uint64_t object_size = 0;
};

// The first n bytes of the memory a body was placed in.
std::string gather(const std::vector<iovec>& into, uint64_t n) {
  std::string out;
  out.reserve(n);
  for (const iovec& v : into) {
    if (n == 0) break;
    uint64_t m = std::min<uint64_t>(n, v.iov_len);
    out.append(static_cast<const char*>(v.iov_base), m);
    n -= m;
  }
  return out;
}

uint64_t answer_crc64(const GetQuery& q, const HttpResponse& r) {
  if (!r.body_in_place) return crc64(r.body);
  uint64_t crc = 0;
  uint64_t n = r.body_placed;
  for (const iovec& v : q.into) {
    if (n == 0) break;
    uint64_t m = std::min<uint64_t>(n, v.iov_len);
    crc = crc64_update(crc, std::string_view(static_cast<const char*>(v.iov_base), m));
    n -= m;
  }
  return crc;
}

Error integrity(std::string message) { return Error(ErrorKind::kIntegrity, std::move(message)); }

// Checks the length and version of a GET answer: a short body, a range other than the one
// asked, or an ETag other than If-Match must never pass as the object's bytes.
Result<GetSpan> locate_range(const GetQuery& q, const HttpResponse& r) {
  uint64_t offset = q.range ? q.range->offset : 0;
  GetSpan span;
  if (r.status == 206) {
    uint64_t first = 0, last = 0, total = 0;
    const std::string* cr = r.header("content-range");
    bool parsed = cr != nullptr && std::sscanf(cr->c_str(), "bytes %" SCNu64 "-%" SCNu64
                                               "/%" SCNu64, &first, &last, &total) == 3;
    if (!parsed || last < first || last >= total)
      return Error(ErrorKind::kServer, "206 answer without a usable Content-Range");
    if (first != offset)
      return integrity("asked for offset " + std::to_string(offset) + ", got bytes from " +
                       std::to_string(first));
    span.length = last - first + 1;
    span.object_size = total;
    if (r.body_size() != span.length)
      return integrity("truncated body: " + std::to_string(r.body_size()) + " of " +
                       std::to_string(span.length) + " bytes");
  } else {  // the whole object, whether or not a range was asked
    span.object_size = r.body_size();
    if (offset > span.object_size)
      return Error(ErrorKind::kRangeNotSatisfiable,
                   "offset " + std::to_string(offset) + " is past the end of the object (size " +
                       std::to_string(span.object_size) + ")");
    span.body_offset = offset;
    span.length = span.object_size - offset;
  }
  uint64_t expected = span.object_size - offset;
  if (q.range && q.range->length) expected = std::min(expected, *q.range->length);
  if (span.length != expected)
    return integrity("expected " + std::to_string(expected) + " bytes at offset " +
                     std::to_string(offset) + " (object size " + std::to_string(span.object_size) +
                     "), got " + std::to_string(span.length));
  span.length = expected;  // a 200 answer to a ranged request holds more than was asked
  if (!q.if_match.empty()) {
    const std::string* etag = r.header("etag");
    if (etag == nullptr) return Error(ErrorKind::kServer, "answer without an ETag");
    if (unquote_etag(*etag) != unquote_etag(q.if_match))
      return Error(ErrorKind::kPreconditionFailed,
                   "the object changed: its ETag is " + unquote_etag(*etag) + ", expected " +
                       unquote_etag(q.if_match));
  }
  return span;
}

}  // namespace

struct RestStore::Setup {
  ObjectUri::Scheme scheme;
  std::string bucket;
  std::string endpoint_scheme;
  std::string endpoint_host;
  bool path_style = false;
  std::unique_ptr<Signer> signer;
  RetryPolicy retry;
  std::function<std::chrono::system_clock::time_point()> clock;
};

namespace {

Status parse_endpoint(std::string_view endpoint, std::string& scheme, std::string& host) {
  size_t sep = endpoint.find("://");
  scheme = sep == std::string_view::npos ? "https" : std::string(endpoint.substr(0, sep));
  std::string_view rest = sep == std::string_view::npos ? endpoint : endpoint.substr(sep + 3);
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/")
      return Error(ErrorKind::kInvalidArgument,
                   "endpoint " + std::string(endpoint) + " has a path: give scheme://host[:port]");
    rest = rest.substr(0, slash);
  }
  host = std::string(rest);
  if ((scheme != "http" && scheme != "https") || host.empty())
    return Error(ErrorKind::kInvalidArgument,
                 "endpoint " + std::string(endpoint) + " is not http(s)://host[:port]");
  return {};
}

Result<std::unique_ptr<Signer>> make_signer(const ObjectUri& uri, const StoreConfig& config,
                                            const std::string& region, bool path_style) {
  std::shared_ptr<CredentialProvider> keys = config.credential_provider
                                                 ? config.credential_provider
                                                 : CredentialProvider::fixed(config.credentials);
  if (uri.scheme == ObjectUri::Scheme::kS3)
    return make_sigv4_signer(keys, region.empty() ? "us-east-1" : region);
  // The OSS signers add "/bucket" to the path they sign; a path-style path already has it.
  std::string signed_bucket = path_style ? "" : uri.bucket;
  if (config.oss_signature == StoreConfig::OssSignature::kV1)
    return make_oss_v1_signer(keys, signed_bucket);
  if (region.empty())
    return Error(ErrorKind::kInvalidArgument,
                 "OSS V4 signing needs a region: set --region, region in the config file, or "
                 "OSS_REGION (or choose V1 signing)");
  return make_oss_v4_signer(keys, region, signed_bucket);
}

}  // namespace

Result<std::unique_ptr<RestStore>> RestStore::create(const ObjectUri& uri,
                                                     const StoreConfig& config,
                                                     Reactor& reactor) {
  bool is_oss = uri.scheme == ObjectUri::Scheme::kOss;
  if (!is_oss && uri.scheme != ObjectUri::Scheme::kS3)
    return Error(ErrorKind::kInvalidArgument, "the REST store serves only oss:// and s3:// URIs");
  if (uri.bucket.empty())
    return Error(ErrorKind::kInvalidArgument, uri.to_string() + ": no bucket in the URI");
  Setup setup;
  setup.scheme = uri.scheme;
  setup.bucket = uri.bucket;
  setup.retry = config.retry;
  setup.clock = config.signing_clock;
  std::string region = config.region;
  std::string endpoint = config.endpoint;
  if (endpoint.empty()) {
    if (is_oss && region.empty())
      return Error(ErrorKind::kInvalidArgument,
                   uri.to_string() + ": no OSS endpoint or region: set --endpoint or --region "
                                     "(or OSS_ENDPOINT / OSS_REGION)");
    endpoint = is_oss ? "https://oss-" + region + ".aliyuncs.com"
                      : "https://s3." + (region.empty() ? "us-east-1" : region) + ".amazonaws.com";
  }
  SHOAL_TRY(parse_endpoint(endpoint, setup.endpoint_scheme, setup.endpoint_host));
  if (is_oss && region.empty()) region = oss_region_from_host(setup.endpoint_host);
  switch (config.addressing) {
    case StoreConfig::Addressing::kPath: setup.path_style = true; break;
    case StoreConfig::Addressing::kVirtualHosted: setup.path_style = false; break;
    case StoreConfig::Addressing::kAuto:
      setup.path_style = is_ip_or_localhost(setup.endpoint_host);
      break;
  }
  SHOAL_ASSIGN(setup.signer, make_signer(uri, config, region, setup.path_style));
  SHOAL_ASSIGN(std::unique_ptr<HttpClient> client,
               HttpClient::create(reactor, HttpClientOptions::from(config)));
  return std::unique_ptr<RestStore>(new RestStore(std::move(setup), reactor, std::move(client)));
}

RestStore::RestStore(Setup setup, Reactor& reactor, std::unique_ptr<HttpClient> client)
    : scheme_(setup.scheme),
      bucket_(std::move(setup.bucket)),
      endpoint_scheme_(std::move(setup.endpoint_scheme)),
      endpoint_host_(std::move(setup.endpoint_host)),
      path_style_(setup.path_style),
      signer_(std::move(setup.signer)),
      retry_(setup.retry),
      reactor_(reactor),
      rng_(std::random_device{}()),
      client_(std::move(client)),
      env_{*client_, *signer_, reactor_, oss() ? "x-oss-request-id" : "x-amz-request-id",
           std::move(setup.clock)} {}

RestStore::~RestStore() {
  alive_.reset();
  client_.reset();  // drops the callbacks of requests in flight
  calls_.clear();   // cancels pending retries
}

Capabilities RestStore::capabilities() const {
  Capabilities caps;
  caps.append = oss();
  caps.if_match = true;
  caps.crc64 = oss();
  caps.content_md5 = !oss();
  caps.list_parts = true;
  return caps;
}

std::string RestStore::describe() const {
  return (oss() ? "oss://" : "s3://") + bucket_ + " at " + endpoint_scheme_ + "://" +
         endpoint_host_ + (path_style_ ? " (path style)" : "");
}

HttpRequest RestStore::request(std::string method, std::string path) const {
  HttpRequest r;
  r.method = std::move(method);
  r.scheme = endpoint_scheme_;
  r.host = path_style_ ? endpoint_host_ : bucket_ + "." + endpoint_host_;
  r.path = std::move(path);
  return r;
}

std::string RestStore::object_path(const std::string& key) const {
  return (path_style_ ? "/" + bucket_ + "/" : "/") + key;
}

std::string RestStore::bucket_path() const { return path_style_ ? "/" + bucket_ + "/" : "/"; }

template <class T>
void RestStore::fail_later(Done<T> done, Error error) {
  std::weak_ptr<char> alive = alive_;
  reactor_.post([alive, done = std::move(done), error = std::move(error)]() mutable {
    if (!alive.expired()) done(std::move(error));
  });
}

// Starts a retried call; `parse` turns the accepted answer into the operation's result.
template <class T, class Parse>
void RestStore::run(HttpRequest request, std::string what, Done<T> done, Parse parse,
                    RestCall::Check check) {
  uint64_t id = next_call_++;
  auto finish = [this, id, what, done = std::move(done),
                 parse = std::move(parse)](Result<HttpResponse> answer) mutable {
    calls_.erase(id);  // this closure was moved out of the call before it ran
    if (!answer.ok()) return done(std::move(answer).error());
    std::string request_id = header_or_empty(*answer, env_.request_id_header);
    Result<T> result = parse(std::move(answer).value());
    if (!result.ok()) {
      Error error = result.error().with_context(what);
      if (error.request_id.empty()) error.request_id = request_id;
      return done(std::move(error));
    }
    done(std::move(result));
  };
  auto call = std::make_unique<RestCall>(env_, std::move(request), std::move(what),
                                         Backoff(retry_, rng_()), std::move(check),
                                         std::move(finish));
  RestCall* started = call.get();
  calls_.emplace(id, std::move(call));
  started->start();
}

void RestStore::list(ListQuery query, Done<ListPage> done) {
  HttpRequest r = request("GET", bucket_path());
  r.query = {{"list-type", "2"}};
  if (!query.prefix.empty()) r.query.emplace_back("prefix", query.prefix);
  if (!query.delimiter.empty()) r.query.emplace_back("delimiter", query.delimiter);
  if (!query.continuation_token.empty())
    r.query.emplace_back("continuation-token", query.continuation_token);
  else if (!query.start_after.empty())
    r.query.emplace_back("start-after", query.start_after);
  r.query.emplace_back("max-keys", std::to_string(query.max_keys));
  r.query.emplace_back("encoding-type", "url");
  run<ListPage>(std::move(r), "ListObjectsV2 prefix '" + query.prefix + "'", std::move(done),
                [](HttpResponse answer) { return parse_list_objects_v2(answer.body); });
}

void RestStore::head(std::string key, Done<ObjectInfo> done) {
  run<ObjectInfo>(request("HEAD", object_path(key)), "HeadObject " + key, std::move(done),
                  [key](HttpResponse answer) -> Result<ObjectInfo> {
                    auto size = header_u64(answer, "content-length");
                    if (!size) return Error(ErrorKind::kServer, "answer without Content-Length");
                    return info_from_headers(key, answer, *size);
                  });
}

void RestStore::get(GetQuery query, Done<GetReply> done) {
  if (query.range && query.range->length == 0u)
    return fail_later(std::move(done), Error(ErrorKind::kInvalidArgument,
                                             "GetObject " + query.key + ": empty range"));
  HttpRequest r = request("GET", object_path(query.key));
  if (query.range) r.set_header("Range", range_text(*query.range));
  if (query.range && oss()) r.set_header("x-oss-range-behavior", "standard");
  if (!query.if_match.empty()) r.set_header("If-Match", "\"" + unquote_etag(query.if_match) + "\"");

  r.response_into = query.into;  // a body that fits lands in the caller's memory

  bool verify_crc = oss() && !query.range;
  RestCall::Check check = [query, verify_crc](const HttpResponse& answer) -> Status {
    SHOAL_TRY(locate_range(query, answer));
    auto stored = header_u64(answer, kCrcHeader);
    if (verify_crc && answer.status == 200 && stored && answer_crc64(query, answer) != *stored)
      return integrity("CRC-64 of the body does not match x-oss-hash-crc64ecma");
    return {};
  };
  auto parse = [query](HttpResponse answer) -> Result<GetReply> {
    SHOAL_ASSIGN(GetSpan span, locate_range(query, answer));
    GetReply reply;
    reply.offset = query.range ? query.range->offset : 0;
    reply.info = info_from_headers(query.key, answer, span.object_size);
    if (answer.body_in_place && span.body_offset == 0) {
      reply.in_place = true;  // the asked bytes start the caller's memory
      reply.placed = span.length;
      return reply;
    }
    if (answer.body_in_place) answer.body = gather(query.into, answer.body_placed);  // rare
    if (span.body_offset == 0 && span.length == answer.body.size())
      reply.data = std::move(answer.body);
    else
      reply.data = answer.body.substr(span.body_offset, span.length);
    return reply;
  };
  std::string asked = query.range ? " (" + range_text(*query.range) + ")" : "";
  auto explain = [done = std::move(done), asked](Result<GetReply> reply) {
    if (!reply.ok() && reply.error().kind == ErrorKind::kRangeNotSatisfiable) {
      Error error = std::move(reply).error();
      error.message += ": the range" + asked + " starts at or past the end of the object";
      return done(std::move(error));
    }
    done(std::move(reply));
  };
  run<GetReply>(std::move(r), "GetObject " + query.key + asked, Done<GetReply>(std::move(explain)),
                std::move(parse), std::move(check));
}

Result<std::optional<uint64_t>> RestStore::prepare_upload(HttpRequest& r, const Body& body) const {
  if (oss()) {
    if (body.crc64) return body.crc64;
    SHOAL_ASSIGN(uint64_t crc, body_crc64(body));
    return std::optional<uint64_t>(crc);
  }
  if (body.content_md5) {
    r.set_header("Content-MD5", *body.content_md5);
    return std::optional<uint64_t>();
  }
  SHOAL_ASSIGN(std::string md5, body_content_md5(body));
  r.set_header("Content-MD5", md5);
  return std::optional<uint64_t>();
}

RestCall::Check RestStore::crc_check(std::optional<uint64_t> expected, std::string what) const {
  if (!expected) return {};
  return [expected, what](const HttpResponse& answer) -> Status {
    auto stored = header_u64(answer, kCrcHeader);
    if (stored && *stored != *expected)
      return integrity("the stored CRC-64 " + std::to_string(*stored) + " of " + what +
                       " differs from the " + std::to_string(*expected) + " sent");
    return {};
  };
}

void RestStore::put(std::string key, Body body, Done<PutReply> done) {
  HttpRequest r = request("PUT", object_path(key));
  auto crc = prepare_upload(r, body);
  if (!crc.ok()) return fail_later(std::move(done), crc.error().with_context("PutObject " + key));
  r.body = std::move(body);
  run<PutReply>(std::move(r), "PutObject " + key, std::move(done),
                [](HttpResponse answer) -> Result<PutReply> {
                  PutReply reply;
                  reply.etag = unquote_etag(header_or_empty(answer, "etag"));
                  reply.crc64 = header_u64(answer, kCrcHeader);
                  return reply;
                },
                crc_check(*crc, key));
}

void RestStore::remove(std::string key, Done<void> done) {
  run<void>(request("DELETE", object_path(key)), "DeleteObject " + key, std::move(done),
            [](HttpResponse) -> Status { return {}; });
}

void RestStore::create_multipart(std::string key, Done<std::string> done) {
  HttpRequest r = request("POST", object_path(key));
  r.query = {{"uploads", ""}};
  run<std::string>(std::move(r), "InitiateMultipartUpload " + key, std::move(done),
                   [](HttpResponse answer) { return parse_initiate_multipart(answer.body); });
}

void RestStore::upload_part(std::string key, std::string upload_id, int number, Body body,
                            Done<PartInfo> done) {
  std::string what = "UploadPart " + std::to_string(number) + " of " + key;
  HttpRequest r = request("PUT", object_path(key));
  r.query = {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}};
  auto crc = prepare_upload(r, body);
  if (!crc.ok()) return fail_later(std::move(done), crc.error().with_context(what));
  uint64_t size = body.size();
  r.body = std::move(body);
  std::optional<uint64_t> local_crc = *crc;
  run<PartInfo>(std::move(r), what, std::move(done),
                [number, size, local_crc](HttpResponse answer) -> Result<PartInfo> {
                  PartInfo part;
                  part.number = number;
                  part.size = size;
                  part.etag = unquote_etag(header_or_empty(answer, "etag"));
                  part.crc64 = header_u64(answer, kCrcHeader);
                  if (!part.crc64) part.crc64 = local_crc;
                  return part;
                },
                crc_check(local_crc, "part " + std::to_string(number)));
}

void RestStore::complete_multipart(std::string key, std::string upload_id,
                                   std::vector<PartInfo> parts, Done<PutReply> done) {
  std::string what = "CompleteMultipartUpload " + key;
  HttpRequest r = request("POST", object_path(key));
  r.query = {{"uploadId", upload_id}};
  r.body = Body::from_string(complete_multipart_xml(parts));
  // The object's CRC follows from the parts' when every part has one.
  std::optional<uint64_t> expected_crc;
  auto has_crc = [](const PartInfo& p) { return p.crc64.has_value(); };
  if (oss() && std::all_of(parts.begin(), parts.end(), has_crc)) {
    uint64_t crc = 0;
    for (const PartInfo& p : parts) crc = crc64_combine(crc, *p.crc64, p.size);
    expected_crc = crc;
  }
  RestCall::Check crc_ok = crc_check(expected_crc, key);
  std::string request_id_header = env_.request_id_header;
  // S3 may answer 200 and report the failure in an <Error> body.
  RestCall::Check check = [crc_ok, request_id_header](const HttpResponse& answer) -> Status {
    if (parse_error_body(answer.body)) {
      return service_error(answer, "", request_id_header);
    }
    return crc_ok ? crc_ok(answer) : Status();
  };
  run<PutReply>(std::move(r), what, std::move(done),
                [](HttpResponse answer) -> Result<PutReply> {
                  SHOAL_ASSIGN(std::string etag, parse_complete_multipart(answer.body));
                  PutReply reply;
                  reply.etag = etag.empty() ? unquote_etag(header_or_empty(answer, "etag")) : etag;
                  reply.crc64 = header_u64(answer, kCrcHeader);
                  return reply;
                },
                std::move(check));
}

void RestStore::abort_multipart(std::string key, std::string upload_id, Done<void> done) {
  HttpRequest r = request("DELETE", object_path(key));
  r.query = {{"uploadId", upload_id}};
  run<void>(std::move(r), "AbortMultipartUpload " + key, std::move(done),
            [](HttpResponse) -> Status { return {}; });
}

void RestStore::list_parts(std::string key, std::string upload_id,
                           Done<std::vector<PartInfo>> done) {
  list_parts_from(std::move(key), std::move(upload_id), 0, {}, std::move(done));
}

void RestStore::list_parts_from(std::string key, std::string upload_id, int marker,
                                 std::vector<PartInfo> so_far, Done<std::vector<PartInfo>> done) {
  HttpRequest r = request("GET", object_path(key));
  r.query = {{"uploadId", upload_id}};
  if (marker > 0) r.query.emplace_back("part-number-marker", std::to_string(marker));
  Done<PartsPage> next = [this, key, upload_id, so_far = std::move(so_far),
                          done = std::move(done)](Result<PartsPage> page) mutable {
    if (!page.ok()) return done(std::move(page).error());
    for (PartInfo& p : page->parts) so_far.push_back(std::move(p));
    if (!page->next_marker) return done(std::move(so_far));
    list_parts_from(std::move(key), std::move(upload_id), *page->next_marker, std::move(so_far),
                    std::move(done));
  };
  run<PartsPage>(std::move(r), "ListParts " + key, std::move(next),
                 [](HttpResponse answer) { return parse_list_parts(answer.body); });
}

void RestStore::append(std::string key, uint64_t position, Body body, Done<PutReply> done) {
  std::string what = "AppendObject " + key + " at " + std::to_string(position);
  if (!oss())
    return fail_later(std::move(done),
                      Error(ErrorKind::kUnsupported, what + ": S3 has no append; upload the "
                                                            "object whole or in parts"));
  HttpRequest r = request("POST", object_path(key));
  r.query = {{"append", ""}, {"position", std::to_string(position)}};
  r.body = std::move(body);
  run<PutReply>(std::move(r), what, std::move(done), [](HttpResponse answer) -> Result<PutReply> {
    auto next = header_u64(answer, "x-oss-next-append-position");
    if (!next) return Error(ErrorKind::kServer, "answer without x-oss-next-append-position");
    PutReply reply;
    reply.etag = unquote_etag(header_or_empty(answer, "etag"));
    reply.crc64 = header_u64(answer, kCrcHeader);
    reply.next_append_position = *next;
    return reply;
  });
}

Result<std::unique_ptr<ObjectStore>> make_rest_store(const ObjectUri& uri,
                                                     const StoreConfig& config, Reactor& reactor) {
  SHOAL_ASSIGN(std::unique_ptr<RestStore> store, RestStore::create(uri, config, reactor));
  return std::unique_ptr<ObjectStore>(std::move(store));
}

}  // namespace shoal
