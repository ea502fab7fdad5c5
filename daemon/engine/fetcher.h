// The fetcher: one GET per fetch unit, shared by every reader and prefetch that wants the
// unit, started in priority order under a cap on GETs in flight, an optional rate cap and the
// cache's byte budget, each GET pinned to the object version the index recorded.
//
// Priorities: demand > readahead > cross-file > warm-all. A quarter of the GET slots is kept
// for demand, so a reader waits behind prefetch for at most the GETs already in flight.
// Budget: each GET reserves its bytes in the cache first. A prefetch that finds the budget
// held is dropped; a demand fetch waits at the head of its queue until a GET completes.
// Versions: If-Match carries the indexed ETag when the store honours it, and every reply's
// ETag and object size are compared with the index. A mismatch, 412 or 404 marks the object
// changed: every read of it fails from then on, and the operator hears about it once.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/reactor.h"
#include "common/result.h"
#include "daemon/cache/memory_cache.h"
#include "daemon/engine/engine_metrics.h"
#include "daemon/engine/read_plan.h"
#include "daemon/engine/token_bucket.h"
#include "index/index_file.h"
#include "store/object_store.h"

namespace shoal::engine {

enum class Priority : uint8_t { kDemand = 0, kReadahead = 1, kCrossFile = 2, kWarm = 3 };

struct FetcherConfig {
  FetchGeometry geometry;
  std::string key_prefix;  // prepended to the index's relative keys
  int max_in_flight = 128;
  double max_per_second = 0;
  std::function<void(std::string_view)> log;
};

class Fetcher {
 public:
  using UnitDone = std::function<void(Result<CacheBuffer>)>;

  Fetcher(Reactor& reactor, ObjectStore& store, MemoryCache& cache,
          const index::IndexFile& index, FetcherConfig config, EngineMetrics& metrics);
  // Waiters of unfinished fetches are dropped uncalled; replies arriving later are ignored.
  ~Fetcher();
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  // Fetches `unit` into the cache and hands its buffer to done (which may be empty for a
  // prefetch), never inline. Joins a fetch of the same unit already queued or in flight;
  // a higher priority lifts a queued one.
  void fetch(CacheKey unit, Priority priority, UnitDone done);

  bool pending(CacheKey unit) const { return pending_.count(unit.packed()) != 0; }
  // The error every read of a changed object gets, or null while it is unchanged.
  const Error* changed(uint32_t object) const;
  // Demand reads that found their unit already being prefetched: prefetch that was used, if
  // late.
  uint64_t prefetch_joined() const { return prefetch_joined_; }

 private:
  struct Pending {
    Priority priority = Priority::kDemand;
    bool started = false;
    bool demand = false;  // a reader waits for it: inserted as demand data
    std::vector<UnitDone> waiters;
    CacheReservation reservation;
    Reactor::Clock::time_point started_at;
  };

  void pump();
  bool start_next();
  bool slot_free(size_t priority) const;
  void wake_later(std::chrono::milliseconds delay);
  void start_get(uint64_t key, Pending& p, CacheReservation reservation);
  void on_reply(uint64_t key, PoolBuffer body, Result<GetReply> reply);
  Result<CacheBuffer> accept(CacheKey unit, Pending& p, Result<GetReply> reply);
  Error mark_changed(uint32_t object, const std::string& reason);
  // kPosted when the fetch may have been asked for by a caller still on the stack.
  enum class Delivery { kNow, kPosted };
  void complete(uint64_t key, const Result<CacheBuffer>& result, Delivery delivery);
  std::string full_key(uint32_t object) const;

  Reactor& reactor_;
  ObjectStore& store_;
  MemoryCache& cache_;
  const index::IndexFile& index_;
  FetcherConfig config_;
  EngineMetrics& metrics_;
  bool if_match_;
  int prefetch_slots_;
  TokenBucket bucket_;

  std::unordered_map<uint64_t, Pending> pending_;
  std::array<std::deque<uint64_t>, 4> queues_;  // by priority; stale keys are skipped
  std::unordered_map<uint32_t, Error> changed_;
  int in_flight_ = 0;
  uint64_t prefetch_joined_ = 0;
  bool pumping_ = false;
  bool repump_ = false;
  Reactor::TimerId wake_timer_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shoal::engine
