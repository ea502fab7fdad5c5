// One logical request of the REST store, repeated on retryable failures. Each attempt sends a
// fresh copy of the request signed at the moment it leaves, so a retry after a long backoff
// never carries a stale date; backoff waits are reactor timers, never sleeps.
//
// A request refused because its keys expired or are unknown (S3 ExpiredToken,
// InvalidAccessKeyId, TokenRefreshRequired, InvalidToken; OSS SecurityTokenExpired,
// InvalidAccessKeyId, InvalidSecurityToken) asks the credential provider for a refresh once,
// waits for that fetch on reactor timers (never blocking the loop), and is sent once more with
// the keys it then has. Fixed keys are never retried this way: fetching them again cannot help.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/reactor.h"
#include "common/result.h"
#include "store/http/http_client.h"
#include "store/http_request.h"
#include "store/retry.h"
#include "store/sign/signer.h"

namespace shoal {

// What every call of one store shares.
struct RestCallEnv {
  HttpClient& client;
  const Signer& signer;
  Reactor& reactor;
  std::string request_id_header;  // "x-amz-request-id" / "x-oss-request-id"
  std::function<std::chrono::system_clock::time_point()> clock;  // empty: the system clock
};

class RestCall {
 public:
  // Inspects a 2xx answer before it is accepted (lengths, ETags, CRCs). A retryable error
  // (kIntegrity: truncated or damaged in transit) makes the call try again.
  using Check = std::function<Status(const HttpResponse&)>;
  // Runs once with the accepted 2xx answer or the final error, which names `what` and says
  // how many attempts were made. The call may be destroyed inside it.
  using Finish = std::function<void(Result<HttpResponse>)>;

  RestCall(const RestCallEnv& env, HttpRequest request, std::string what, Backoff backoff,
           Check check, Finish finish);
  ~RestCall();  // cancels a pending retry; a dropped call never finishes
  RestCall(const RestCall&) = delete;
  RestCall& operator=(const RestCall&) = delete;

  void start();

 private:
  void attempt();
  void on_outcome(Result<HttpResponse> outcome);
  void retry_or_finish(Error error, std::optional<std::chrono::milliseconds> server_delay);
  Error answer_error(Error error, const HttpResponse& response) const;
  // True when the refusal may be cured by fresh keys and a refresh was asked for.
  bool refresh_credentials(const Error& error);
  void wait_for_credentials(uint64_t fetches_before, int polls);

  const RestCallEnv& env_;
  HttpRequest request_;  // unsigned
  std::string what_;     // "GetObject data/a.bin": the start of every error message
  Backoff backoff_;
  Check check_;
  Finish finish_;
  int attempts_ = 0;
  Reactor::TimerId retry_timer_ = 0;
  std::shared_ptr<const Credentials> signed_with_;  // the keys of the attempt in flight
  bool refreshed_credentials_ = false;              // the one forced refresh was used
};

}  // namespace shoal
