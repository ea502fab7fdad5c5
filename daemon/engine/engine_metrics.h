// The engine's series in the metrics registry (all named shoal_engine_…), resolved once at
// start so the data path only touches atomics.
#pragma once

#include "daemon/cache/memory_cache.h"
#include "daemon/metrics.h"

namespace shoal::engine {

struct EngineMetrics {
  explicit EngineMetrics(Metrics& registry);

  Counter& requests;
  Counter& request_errors;
  Counter& bytes_served;
  Histogram& request_latency;

  Counter& cache_hits;     // fetch-unit lookups of readers, once per unit per request
  Counter& cache_misses;
  Counter& prefetch_used;
  Counter& prefetch_wasted;
  Counter& prefetch_dropped;  // prefetches given up for lack of budget
  Gauge& prefetch_window;
  Gauge& hint_window;
  Gauge& cache_bytes;
  Gauge& cache_inflight_bytes;

  Counter& gets;
  Counter& get_bytes;
  Counter& get_errors;
  Histogram& get_latency;
  Gauge& gets_in_flight;
  Counter& changed_objects;

  // Brings the cache-derived series up to date. Deltas, so engines sharing a registry add up.
  void sync_cache(const CacheStats& now);
  // Takes this engine's share out of the cache gauges (when it stops).
  void withdraw_gauges();

 private:
  CacheStats last_;
};

}  // namespace shoal::engine
