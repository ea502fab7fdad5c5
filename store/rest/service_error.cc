#include "store/rest/service_error.h"

#include <algorithm>
#include <array>
#include <string>

#include "store/rest/rest_xml.h"

namespace shoal {
namespace {

template <size_t N>
bool one_of(std::string_view code, const std::array<std::string_view, N>& codes) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

constexpr std::array<std::string_view, 4> kNotFoundCodes = {"NoSuchKey", "NoSuchBucket",
                                                            "NoSuchUpload", "NotFound"};
constexpr std::array<std::string_view, 7> kAccessCodes = {
    "AccessDenied",         "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSecurityToken",
    "ExpiredToken",         "InvalidToken",       "AccountProblem"};
constexpr std::array<std::string_view, 7> kThrottleCodes = {
    "SlowDown",         "TotalQpsLimitExceeded", "Throttling",    "ThrottlingException",
    "RequestThrottled", "RequestLimitExceeded",  "TooManyRequests"};

ErrorKind kind_from_code(std::string_view code) {
  if (one_of(code, kNotFoundCodes)) return ErrorKind::kNotFound;
  if (one_of(code, kAccessCodes)) return ErrorKind::kAccessDenied;
  if (one_of(code, kThrottleCodes)) return ErrorKind::kThrottled;
  if (code == "PreconditionFailed" || code == "PositionNotEqualToLength")
    return ErrorKind::kPreconditionFailed;
  if (code == "InvalidRange") return ErrorKind::kRangeNotSatisfiable;
  if (code == "RequestTimeout") return ErrorKind::kTimeout;
  // A server without the call (s3rver has no ListParts): the caller can fall back.
  if (code == "NotImplemented" || code == "MethodNotAllowed") return ErrorKind::kUnsupported;
  if (code == "InternalError" || code == "ServiceUnavailable") return ErrorKind::kServer;
  return ErrorKind::kInternal;  // unknown code: decide by status
}

ErrorKind kind_from_status(int status) {
  switch (status) {
    case 401:
    case 403: return ErrorKind::kAccessDenied;
    case 404: return ErrorKind::kNotFound;
    case 304:
    case 412: return ErrorKind::kPreconditionFailed;
    case 416: return ErrorKind::kRangeNotSatisfiable;
    case 408: return ErrorKind::kTimeout;
    case 429: return ErrorKind::kThrottled;
    case 405:
    case 501: return ErrorKind::kUnsupported;
    default: return status >= 500 || status < 300 ? ErrorKind::kServer
                                                  : ErrorKind::kInvalidArgument;
  }
}

// What the user can do, for a server that names the error but leaves its message empty
// (RGW does, for all of these); by status where the code says nothing more.
std::string default_message(int status, std::string_view code) {
  if (code == "SignatureDoesNotMatch")
    return "the request signature does not match: check the secret access key";
  if (code == "InvalidAccessKeyId")
    return "the access key id is unknown to the server: check the credentials";
  if (code == "RequestTimeTooSkewed")
    return "the request time is too far from the server's: check this machine's clock";
  if (code == "BadDigest")
    return "the body does not match its Content-MD5: the data changed while it was sent, "
           "upload it again";
  if (code == "XAmzContentSHA256Mismatch")
    return "the body does not match its x-amz-content-sha256: the data changed while it was "
           "sent, upload it again";
  switch (status) {
    case 304:
    case 412: return "the object changed (precondition failed)";
    case 403: return "access denied: check the credentials and the bucket policy";
    case 404: return "no such object or bucket";
    case 416: return "the requested range is not satisfiable";
    default: return "HTTP " + std::to_string(status);
  }
}

}  // namespace

ErrorKind service_error_kind(int status, std::string_view code) {
  ErrorKind by_code = kind_from_code(code);
  return by_code != ErrorKind::kInternal ? by_code : kind_from_status(status);
}

Error service_error(const HttpResponse& response, std::string_view what,
                    std::string_view request_id_header) {
  ServiceErrorBody body = parse_error_body(response.body).value_or(ServiceErrorBody{});
  std::string message =
      body.message.empty() ? default_message(response.status, body.code) : body.message;
  Error error(service_error_kind(response.status, body.code),
              what.empty() ? message : std::string(what) + ": " + message);
  error.http_status = response.status;
  error.code = body.code;
  error.request_id = body.request_id;
  if (const std::string* id = response.header(request_id_header)) error.request_id = *id;
  return error;
}

}  // namespace shoal
