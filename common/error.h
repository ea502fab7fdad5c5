// The one error type of shoal: a kind the caller can branch on, plus what a human needs.
#pragma once

#include <string>
#include <string_view>

namespace shoal {

enum class ErrorKind {
  kInvalidArgument,     // bad input from the user or a config
  kNotFound,            // object, file or path absent
  kAccessDenied,        // bad credentials or missing permission
  kPreconditionFailed,  // If-Match failed: the object changed since it was indexed
  kRangeNotSatisfiable, // a range past the end of an object
  kThrottled,           // 429 / 503 SlowDown after the retry budget
  kNetwork,             // connection refused, reset, DNS, TLS
  kTimeout,             // no answer in time
  kServer,              // other 5xx or an unparseable answer
  kIntegrity,           // checksum, size or ETag mismatch
  kCorrupt,             // a damaged on-disk structure (index, journal)
  kIo,                  // local file system error
  kNoSpace,             // a local budget or disk is full
  kUnsupported,         // the backend cannot do this (e.g. append on S3)
  kCancelled,
  kInternal,
};

std::string_view to_string(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;     // what failed, on which key/path/offset, what to do
  int http_status = 0;     // 0 when no HTTP exchange is involved
  std::string code;        // the service's error code, e.g. "NoSuchKey"
  std::string request_id;  // x-oss-request-id / x-amz-request-id

  Error() = default;
  Error(ErrorKind k, std::string msg) : kind(k), message(std::move(msg)) {}

  // One line for logs and CLI messages: "not found: GET data/a.bin: NoSuchKey (HTTP 404, request 5F…)".
  std::string describe() const;
  // Prefixes the message with context, keeping everything else.
  Error with_context(std::string_view context) const;
};

// errno → Error, for local file operations.
Error errno_error(std::string_view what, int err);

}  // namespace shoal
