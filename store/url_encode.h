// Percent-encoding per RFC 3986, and the request target the HTTP client puts on the wire.
// The signers encode with the same functions, so what is signed is what is sent.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "store/http_request.h"

namespace shoal {

// Keeps the unreserved set (A-Z a-z 0-9 - _ . ~) and encodes every other byte as upper-case
// %XX, UTF-8 bytes one by one. With encode_slash false, '/' is kept (object key paths).
std::string uri_encode(std::string_view s, bool encode_slash);

// Reverses %XX escapes (either case). A '%' without two hex digits is an error. '+' is kept
// unless plus_as_space: S3's encoding-type=url listings encode a space in a key as '+'.
Result<std::string> uri_decode(std::string_view s, bool plus_as_space = false);

// "<encoded path>[?<query>]" for the request line: the path encoded with '/' kept (an empty
// path is "/"), then the query parameters in their order in req.query, key and value encoded
// with '/' encoded too. A parameter with an empty value is sent as a bare "key", never as
// "key=": OSS V4 signs a bare key as "key", and SigV4 servers canonicalize "key" and "key="
// alike, so one wire form is right for every scheme. Dot segments are sent as they are; the
// HTTP client must not normalize them (curl: CURLOPT_PATH_AS_IS).
std::string request_target(const HttpRequest& req);

}  // namespace shoal
