// Turning a failed S3 / OSS answer into a typed shoal::Error.
#pragma once

#include <string_view>

#include "common/error.h"
#include "store/http_request.h"

namespace shoal {

// The kind a service error maps to: its code first (NoSuchKey, AccessDenied, SlowDown, ...),
// then its HTTP status (404, 403, 412, 416, 429, 5xx, ...).
ErrorKind service_error_kind(int status, std::string_view code);

// The Error for a non-2xx answer (or a 200 carrying an <Error> document): kind, HTTP status,
// the service's code, message and request id (from the XML body, else the request-id header
// named by `request_id_header`). `what` names the operation and key, e.g. "GetObject data/a";
// empty, the message is the service's alone.
// Only Code, Message and RequestId are taken from the body: other fields some servers add
// (AWSAccessKeyId, StringToSign) never reach a message.
Error service_error(const HttpResponse& response, std::string_view what,
                    std::string_view request_id_header);

}  // namespace shoal
