#include "store/credentials/provider.h"

#include <ctime>
#include <random>

#include "common/log.h"
#include "store/rest/rest_xml.h"

namespace shoal {
namespace {

using std::chrono::milliseconds;
using SteadyTime = std::chrono::steady_clock::time_point;

std::string expiry_text(const std::optional<SystemTime>& expiration) {
  return expiration ? "expire at " + format_iso8601(*expiration) : "do not expire";
}

}  // namespace

std::string format_iso8601(SystemTime t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<SystemTime> parse_expiration(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r'))
    text.remove_suffix(1);
  auto ns = parse_iso8601_ns(text);
  if (!ns) return std::nullopt;
  return SystemTime(
      std::chrono::duration_cast<SystemTime::duration>(std::chrono::nanoseconds(*ns)));
}

std::shared_ptr<CredentialProvider> CredentialProvider::fixed(Credentials credentials) {
  return std::shared_ptr<CredentialProvider>(
      new CredentialProvider(nullptr, {}, ExpiringCredentials{std::move(credentials), {}}));
}

Result<std::shared_ptr<CredentialProvider>> CredentialProvider::start(
    std::unique_ptr<CredentialSource> source, RefreshPolicy policy) {
  SHOAL_ASSIGN(ExpiringCredentials first, source->fetch());
  bool needs_thread = first.expiration.has_value() || source->watches_files();
  if (first.expiration && *first.expiration <= std::chrono::system_clock::now())
    return Error(ErrorKind::kAccessDenied,
                 source->describe() + " gave credentials that expired at " +
                     format_iso8601(*first.expiration) +
                     ": renew them at the source (or check this machine's clock)");
  auto provider = std::shared_ptr<CredentialProvider>(
      new CredentialProvider(std::move(source), policy, std::move(first)));
  if (needs_thread) provider->thread_ = std::thread([p = provider.get()] { p->run(); });
  return provider;
}

CredentialProvider::CredentialProvider(std::unique_ptr<CredentialSource> source,
                                       RefreshPolicy policy, ExpiringCredentials first)
    : source_(std::move(source)),
      policy_(policy),
      description_(source_ ? source_->describe() : "keys given by flags, config or environment"),
      current_(std::make_shared<const Credentials>(std::move(first.credentials))),
      expiration_(first.expiration),
      fetched_at_(std::chrono::system_clock::now()) {}

CredentialProvider::~CredentialProvider() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const Credentials> CredentialProvider::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::optional<SystemTime> CredentialProvider::expiration() const {
  std::lock_guard lock(mu_);
  return expiration_;
}

std::string CredentialProvider::describe() const { return description_; }

bool CredentialProvider::refresh_rejected(const Credentials& rejected) {
  if (!source_ || !thread_.joinable()) return false;
  {
    std::lock_guard lock(mu_);
    // Keys already replaced since that request was signed: the retry uses the new ones.
    if (current_->access_key_id != rejected.access_key_id ||
        current_->session_token != rejected.session_token)
      return true;
    forced_ = true;
  }
  cv_.notify_all();
  return true;
}

SteadyTime CredentialProvider::next_fetch_locked(SteadyTime now, SystemTime wall_now) const {
  SteadyTime next = SteadyTime::max();
  if (expiration_) {
    auto lifetime = *expiration_ - fetched_at_;
    SystemTime at = std::min(fetched_at_ + lifetime * 2 / 3, *expiration_ - policy_.lead);
    at = std::max(at, fetched_at_ + lifetime / 2);
    at = std::max(at, wall_now + policy_.min_interval);
    next = now + std::chrono::duration_cast<SteadyTime::duration>(at - wall_now);
  }
  if (failures_ > 0) {
    // Backoff with full jitter, never past half the time the old keys have left.
    milliseconds delay = policy_.retry_base * (1 << std::min(failures_ - 1, 16));
    delay = std::min(delay, policy_.retry_cap);
    if (expiration_) {
      auto left = std::chrono::duration_cast<milliseconds>(*expiration_ - wall_now);
      if (left > milliseconds(200)) delay = std::min(delay, left / 2);
    }
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    auto jittered = milliseconds(std::uniform_int_distribution<int64_t>(
        delay.count() / 2, std::max<int64_t>(delay.count(), 1))(rng));
    next = now + jittered;
  }
  if (source_->watches_files()) next = std::min(next, now + policy_.poll);
  return next;
}

void CredentialProvider::install(ExpiringCredentials fresh) {
  std::lock_guard lock(mu_);
  current_ = std::make_shared<const Credentials>(std::move(fresh.credentials));
  expiration_ = fresh.expiration;
  fetched_at_ = std::chrono::system_clock::now();
}

void CredentialProvider::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    SteadyTime due = next_fetch_locked(std::chrono::steady_clock::now(),
                                       std::chrono::system_clock::now());
    cv_.wait_until(lock, due, [&] { return stopping_ || forced_; });
    if (stopping_) break;
    bool forced = forced_;
    forced_ = false;
    bool time_due = std::chrono::steady_clock::now() >= due && (expiration_ || failures_ > 0);
    lock.unlock();
    bool fetch = forced || time_due || (source_->watches_files() && source_->changed());
    if (!fetch) {
      lock.lock();
      continue;
    }
    Result<ExpiringCredentials> got = source_->fetch();
    if (got.ok() && got->expiration && *got->expiration <= std::chrono::system_clock::now()) {
      got = Error(ErrorKind::kAccessDenied, description_ + " gave credentials that expired at " +
                                                format_iso8601(*got->expiration));
    }
    if (got.ok()) {
      log_info("credentials from " + description_ + " refreshed: " +
               got->credentials.redacted() + ", they " + expiry_text(got->expiration));
      install(std::move(got).value());
      lock.lock();
      failures_ = 0;
    } else {
      lock.lock();
      ++failures_;
      bool still_valid = !expiration_ || *expiration_ > std::chrono::system_clock::now();
      // While the old keys work, a failed refresh is retried quietly; once they expired,
      // requests fail and the log says why.
      std::string text = "refreshing credentials failed (" + std::to_string(failures_) +
                         " in a row), retrying with backoff: " + got.error().describe();
      if (still_valid) {
        log_warning(text + "; the current ones " + expiry_text(expiration_));
      } else {
        log_error(text + "; the current ones expired at " + format_iso8601(*expiration_) +
                  " and requests are refused until a refresh succeeds");
      }
    }
    fetches_.fetch_add(1, std::memory_order_acq_rel);
  }
}

}  // namespace shoal
