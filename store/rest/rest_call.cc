#include "store/rest/rest_call.h"

#include "store/rest/service_error.h"

#include <algorithm>
#include <array>

namespace shoal {
namespace {

// The codes S3 and OSS answer when a request's keys are expired, revoked or unknown to them:
// a fresh fetch from the provider may cure every one of them.
bool is_credential_refusal(const Error& error) {
  static constexpr std::array<std::string_view, 7> kCodes = {
      "ExpiredToken",         "InvalidAccessKeyId", "TokenRefreshRequired", "InvalidToken",
      "SecurityTokenExpired", "InvalidSecurityToken", "ExpiredTokenException"};
  return error.http_status >= 400 && error.http_status < 500 &&
         std::find(kCodes.begin(), kCodes.end(), error.code) != kCodes.end();
}

constexpr std::chrono::milliseconds kCredentialPoll{20};
constexpr int kCredentialPolls = 1000;  // 20 s: well past any fetch's own timeouts

}  // namespace

RestCall::RestCall(const RestCallEnv& env, HttpRequest request, std::string what,
                   Backoff backoff, Check check, Finish finish)
    : env_(env),
      request_(std::move(request)),
      what_(std::move(what)),
      backoff_(std::move(backoff)),
      check_(std::move(check)),
      finish_(std::move(finish)) {}

RestCall::~RestCall() { env_.reactor.cancel_timer(retry_timer_); }

void RestCall::start() { attempt(); }

void RestCall::attempt() {
  retry_timer_ = 0;
  HttpRequest signed_request = request_;
  signed_with_ = env_.signer.sign(signed_request,
                                  env_.clock ? env_.clock() : std::chrono::system_clock::now());
  env_.client.send(std::move(signed_request),
                   [this](Result<HttpResponse> outcome) { on_outcome(std::move(outcome)); });
}

void RestCall::on_outcome(Result<HttpResponse> outcome) {
  ++attempts_;
  if (!outcome.ok()) return retry_or_finish(std::move(outcome).error().with_context(what_), {});
  const HttpResponse& response = *outcome;
  if (response.status < 200 || response.status >= 300) {
    Error error = service_error(response, what_, env_.request_id_header);
    if (refresh_credentials(error)) return;
    return retry_or_finish(std::move(error),
                           server_retry_delay(response, std::chrono::system_clock::now()));
  }
  if (check_) {
    Status checked = check_(response);
    if (!checked.ok()) return retry_or_finish(answer_error(checked.error(), response), {});
  }
  Finish finish = std::move(finish_);
  finish(std::move(outcome));  // last: may destroy this call
}

void RestCall::retry_or_finish(Error error,
                               std::optional<std::chrono::milliseconds> server_delay) {
  if (is_retryable(error)) {
    if (auto delay = backoff_.next_delay(attempts_, server_delay)) {
      retry_timer_ = env_.reactor.add_timer(*delay, [this] { attempt(); });
      return;
    }
  }
  if (attempts_ > 1) error.message += " (gave up after " + std::to_string(attempts_) + " attempts)";
  Finish finish = std::move(finish_);
  finish(std::move(error));  // last: may destroy this call
}

bool RestCall::refresh_credentials(const Error& error) {
  if (refreshed_credentials_ || !signed_with_ || signed_with_->empty() ||
      !is_credential_refusal(error))
    return false;
  CredentialProvider& provider = env_.signer.credentials();
  uint64_t before = provider.fetches();
  if (!provider.refresh_rejected(*signed_with_)) return false;
  refreshed_credentials_ = true;
  // Never re-sent from inside the HTTP client's callback: the first check is a timer too.
  retry_timer_ = env_.reactor.add_timer(std::chrono::milliseconds(0),
                                        [this, before] { wait_for_credentials(before, 0); });
  return true;
}

// Polls on reactor timers until the provider holds other keys than the refused ones or has
// finished a fetch, then sends the request again (once; a second refusal is final).
void RestCall::wait_for_credentials(uint64_t fetches_before, int polls) {
  CredentialProvider& provider = env_.signer.credentials();
  std::shared_ptr<const Credentials> now = provider.current();
  bool replaced = now->access_key_id != signed_with_->access_key_id ||
                  now->session_token != signed_with_->session_token;
  if (replaced || provider.fetches() != fetches_before || polls >= kCredentialPolls) {
    attempt();
    return;
  }
  retry_timer_ = env_.reactor.add_timer(kCredentialPoll, [this, fetches_before, polls] {
    wait_for_credentials(fetches_before, polls + 1);
  });
}

// A 2xx answer that failed its checks: the error names the call and carries the answer's ids.
Error RestCall::answer_error(Error error, const HttpResponse& response) const {
  error = error.with_context(what_);
  error.http_status = response.status;
  if (const std::string* id = response.header(env_.request_id_header)) error.request_id = *id;
  return error;
}

}  // namespace shoal
