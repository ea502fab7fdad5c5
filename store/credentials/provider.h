// Where the keys that sign each request come from, and how they stay fresh.
//
// A CredentialSource knows how to fetch keys once (read files, ask STS, ask the instance
// metadata service); it may block. A CredentialProvider owns one source, keeps the keys it
// last fetched, and hands them to every signer: current() is a mutex-guarded copy of a
// shared_ptr, so the request path never waits for a fetch. Keys that expire are fetched
// again ahead of expiry by a refresh thread the provider owns; files that may rotate (a
// Kubernetes Secret) are re-checked, cheaply, at most once per poll interval.
//
// Why a thread and not the event loop: shoald runs several event loops that share one
// provider, the CLI and the writer run others, and a fetch is one small blocking HTTP
// exchange (or a few file reads) every few minutes or hours. One thread per provider serves
// every loop at once, never blocks any of them, and keeps the sources simple blocking code.
//
// Thread-safe: every public member may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/result.h"
#include "store/credentials.h"

namespace shoal {

using SystemTime = std::chrono::system_clock::time_point;

struct ExpiringCredentials {
  Credentials credentials;
  std::optional<SystemTime> expiration;  // none: valid until the source says otherwise
};

class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  // What the keys come from, for messages: "the credentials directory /var/run/secrets/oss".
  // Never a secret.
  virtual std::string describe() const = 0;
  // Fetches the keys; may block (file reads, one HTTP exchange with short timeouts). Errors
  // name the source and what the user can do, never a secret or a token.
  virtual Result<ExpiringCredentials> fetch() = 0;
  // Sources backed by files that may be replaced: true when a fetch() now could give other
  // keys than the last one (a cheap stat, no read). Called on the refresh thread only.
  virtual bool changed() { return false; }
  virtual bool watches_files() const { return false; }
};

struct RefreshPolicy {
  std::chrono::milliseconds poll{1000};  // how often a file source's changed() is asked
  std::chrono::milliseconds retry_base{500};  // failed refreshes: exponential backoff from here
  std::chrono::milliseconds retry_cap{30000};
  // Fetch this long before expiry at the latest (or at 2/3 of the lifetime, whichever is
  // sooner; never before half of it).
  std::chrono::seconds lead{300};
  // Scheduled refreshes never come closer together than this: a source that keeps answering
  // the same expiration (a metadata service before it rotates) is not asked in a tight loop.
  std::chrono::milliseconds min_interval{200};
};

class CredentialProvider {
 public:
  // Keys that never change (flags, config file, environment). No thread.
  static std::shared_ptr<CredentialProvider> fixed(Credentials credentials);
  // Fetches once now (a failure is returned: nothing to sign with), then keeps the keys
  // fresh on a refresh thread when they expire or come from files.
  static Result<std::shared_ptr<CredentialProvider>> start(std::unique_ptr<CredentialSource> source,
                                                           RefreshPolicy policy = {});

  ~CredentialProvider();  // stops and joins the refresh thread
  CredentialProvider(const CredentialProvider&) = delete;
  CredentialProvider& operator=(const CredentialProvider&) = delete;

  // The keys to sign with now. Never blocks on a fetch.
  std::shared_ptr<const Credentials> current() const;
  std::optional<SystemTime> expiration() const;
  std::string describe() const;  // the source, never a secret
  bool refreshable() const { return source_ != nullptr; }

  // A request signed with `rejected` was refused as expired or unknown. When those are still
  // the current keys, the refresh thread fetches again at once. Returns false when fetching
  // again cannot help (fixed keys): the caller should not retry.
  bool refresh_rejected(const Credentials& rejected);
  // Counts finished fetches (successful or not) since start: a caller that asked for a
  // refresh waits for this to move.
  uint64_t fetches() const { return fetches_.load(std::memory_order_acquire); }

 private:
  CredentialProvider(std::unique_ptr<CredentialSource> source, RefreshPolicy policy,
                     ExpiringCredentials first);
  void run();
  // When the thread should fetch next, given the state under mu_.
  std::chrono::steady_clock::time_point next_fetch_locked(std::chrono::steady_clock::time_point now,
                                                          SystemTime wall_now) const;
  void install(ExpiringCredentials fresh);

  const std::unique_ptr<CredentialSource> source_;  // null for fixed keys
  const RefreshPolicy policy_;
  const std::string description_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const Credentials> current_;
  std::optional<SystemTime> expiration_;
  SystemTime fetched_at_;
  bool forced_ = false;
  bool stopping_ = false;
  int failures_ = 0;  // consecutive failed fetches
  std::atomic<uint64_t> fetches_{0};
  std::thread thread_;
};

// "2026-05-01T12:34:56Z" (seconds; the form STS answers and Secret files use).
std::string format_iso8601(SystemTime t);
// Accepts "…Z" with or without fractional seconds; none on anything else.
std::optional<SystemTime> parse_expiration(std::string_view text);

}  // namespace shoal
