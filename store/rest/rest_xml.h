// The XML documents of the S3 / OSS REST APIs, read and written with pugixml. Both services
// use the same element names for everything shoal needs (OSS adds HashCrc64ecma to parts).
// Parse failures are kServer errors: the service answered something we cannot read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/object_store.h"

namespace shoal {

// The <Error> document of a failed request; fields absent from the body stay empty.
struct ServiceErrorBody {
  std::string code;
  std::string message;
  std::string request_id;
};

// None when the body is not an <Error> document (HEAD answers have no body at all, and S3's
// CompleteMultipartUpload may put an <Error> in a 200 answer).
std::optional<ServiceErrorBody> parse_error_body(std::string_view xml);

// A ListObjectsV2 page. Keys, prefixes and common prefixes are URL-decoded if and only if the
// answer says <EncodingType>url</EncodingType>: a server that ignores encoding-type=url sends
// raw keys, and decoding those would corrupt keys holding '%' or '+'.
Result<ListPage> parse_list_objects_v2(std::string_view xml);

Result<std::string> parse_initiate_multipart(std::string_view xml);  // the upload id
Result<std::string> parse_complete_multipart(std::string_view xml);  // the ETag, unquoted

struct PartsPage {
  std::vector<PartInfo> parts;
  std::optional<int> next_marker;  // set when the list is truncated
};
Result<PartsPage> parse_list_parts(std::string_view xml);

// <CompleteMultipartUpload> with one <Part> per part, in the order given.
std::string complete_multipart_xml(const std::vector<PartInfo>& parts);

// "2024-03-01T12:34:56.789Z" → nanoseconds since the epoch.
std::optional<int64_t> parse_iso8601_ns(std::string_view text);
// "\"abc\"" → "abc"; an unquoted ETag is returned as is.
std::string unquote_etag(std::string_view etag);

}  // namespace shoal
