#include "store/rest/rest_call.h"

#include "store/rest/service_error.h"

namespace shoal {

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
  env_.signer.sign(signed_request,
                   env_.clock ? env_.clock() : std::chrono::system_clock::now());
  env_.client.send(std::move(signed_request),
                   [this](Result<HttpResponse> outcome) { on_outcome(std::move(outcome)); });
}

void RestCall::on_outcome(Result<HttpResponse> outcome) {
  ++attempts_;
  if (!outcome.ok()) return retry_or_finish(std::move(outcome).error().with_context(what_), {});
  const HttpResponse& response = *outcome;
  if (response.status < 200 || response.status >= 300) {
    return retry_or_finish(service_error(response, what_, env_.request_id_header),
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

// A 2xx answer that failed its checks: the error names the call and carries the answer's ids.
Error RestCall::answer_error(Error error, const HttpResponse& response) const {
  error = error.with_context(what_);
  error.http_status = response.status;
  if (const std::string* id = response.header(env_.request_id_header)) error.request_id = *id;
  return error;
}

}  // namespace shoal
