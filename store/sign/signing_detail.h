// The steps inside each signing scheme, exposed so tests can compare every intermediate
// value with the published vectors. Product code uses the factories in signer.h, which call
// these functions. Steps hold the signature but never a secret.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "store/credentials.h"
#include "store/http_request.h"

namespace shoal::signing {

using TimePoint = std::chrono::system_clock::time_point;

struct Steps {
  std::string canonical_request;  // empty for OSS V1, which has none
  std::string string_to_sign;
  std::string signature;
};

std::string iso8601_basic(TimePoint t);  // "20150830T123600Z"
std::string http_date(TimePoint t);      // "Sun, 30 Aug 2015 12:36:00 GMT"

// ---- AWS Signature Version 4 ----------------------------------------------------------

struct SigV4Scope {
  std::string region;
  std::string service;
};

// S3 is the default. Other AWS services (and the AWS signing test suite) normalize paths.
struct SigV4Options {
  // Remove "." and ".." segments and collapse repeated slashes before encoding.
  bool normalize_path = false;
  // Encode the already encoded path once more (every AWS service except S3). req.path is the
  // raw path, so this encodes it twice in total.
  bool double_encode_path = false;
  // kUnsigned: the payload hash is UNSIGNED-PAYLOAD. kSha256: the SHA-256 of an in-memory
  // body; a file body is not read while signing and is signed as UNSIGNED-PAYLOAD.
  enum class Payload { kUnsigned, kSha256 };
  Payload payload = Payload::kUnsigned;
  // Send the payload hash as x-amz-content-sha256 (S3 requires it; header form only).
  bool content_sha256_header = true;
  // false: the session token is added after signing and left out of the signature, as a few
  // services expect.
  bool sign_session_token = true;
};

std::string sigv4_canonical_uri(std::string_view raw_path, const SigV4Options& options);
// Keys and values encoded ('/' too), sorted by key then value; a bare key becomes "key=".
std::string sigv4_canonical_query(const QueryList& query);
// "20150830/us-east-1/s3/aws4_request"
std::string sigv4_scope(TimePoint now, const SigV4Scope& scope);

// Header form: adds X-Amz-Date, X-Amz-Content-Sha256, X-Amz-Security-Token and
// Authorization. Signs host and every header of req except hop-by-hop and client-owned ones
// (authorization, user-agent, expect, connection, transfer-encoding, x-amzn-trace-id).
Steps sigv4_sign_headers(HttpRequest& req, const Credentials& credentials, const SigV4Scope& scope,
                         TimePoint now, const SigV4Options& options);

// Query form (presigned URL): adds the X-Amz-* parameters to req.query.
Steps sigv4_presign(HttpRequest& req, const Credentials& credentials, const SigV4Scope& scope,
                    TimePoint now, std::chrono::seconds expires, const SigV4Options& options);

// ---- OSS V4 (OSS4-HMAC-SHA256) ----------------------------------------------------------

struct OssV4Scope {
  std::string region;
  std::string product = "oss";
};

// Adds x-oss-date, x-oss-content-sha256 (always UNSIGNED-PAYLOAD),
// x-oss-security-token and Authorization. Signs content-type, content-md5 and every x-oss-*
// header, plus those of additional_headers that req carries (the AdditionalHeaders list).
Steps oss_v4_sign_headers(HttpRequest& req, const Credentials& credentials, const OssV4Scope& scope,
                          std::string_view bucket, TimePoint now,
                          const std::vector<std::string>& additional_headers);

// ---- OSS V1 (HMAC-SHA1) -----------------------------------------------------------------

// `date` is the Date header (header form) or the Expires time in seconds (query form).
std::string oss_v1_string_to_sign(const HttpRequest& req, std::string_view bucket,
                                  std::string_view date);

// Adds Date, x-oss-security-token and Authorization "OSS <id>:<signature>".
Steps oss_v1_sign_headers(HttpRequest& req, const Credentials& credentials, std::string_view bucket,
                          TimePoint now);

// Adds security-token (signed), then OSSAccessKeyId, Expires and Signature to req.query.
Steps oss_v1_presign(HttpRequest& req, const Credentials& credentials, std::string_view bucket,
                     TimePoint expires_at);

}  // namespace shoal::signing
