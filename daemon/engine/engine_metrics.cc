#include "daemon/engine/engine_metrics.h"

namespace shoal::engine {

EngineMetrics::EngineMetrics(Metrics& m)
    : requests(m.counter("shoal_engine_requests_total", "Block read requests received")),
      request_errors(m.counter("shoal_engine_request_errors_total",
                               "Block read requests that failed (EIO for the kernel)")),
      bytes_served(m.counter("shoal_engine_bytes_served_total", "Bytes returned to readers")),
      request_latency(m.histogram("shoal_engine_request_latency_seconds",
                                  "Time from a block read request to its reply",
                                  latency_buckets_seconds())),
      cache_hits(m.counter("shoal_engine_cache_hits_total",
                           "Fetch units readers found in the memory cache")),
      cache_misses(m.counter("shoal_engine_cache_misses_total",
                             "Fetch units readers had to wait for")),
      prefetch_used(m.counter("shoal_engine_prefetch_used_total",
                              "Prefetched fetch units read before eviction")),
      prefetch_wasted(m.counter("shoal_engine_prefetch_wasted_total",
                                "Prefetched fetch units evicted unread")),
      prefetch_dropped(m.counter("shoal_engine_prefetch_dropped_total",
                                 "Prefetches dropped because the cache budget was held")),
      prefetch_window(m.gauge("shoal_engine_prefetch_window",
                              "Objects the cross-file prefetcher runs ahead of readers")),
      hint_window(m.gauge("shoal_engine_hint_window",
                          "Hinted objects kept fetched ahead of the last hinted read")),
      cache_bytes(m.gauge("shoal_engine_cache_bytes", "Bytes resident in the memory cache")),
      cache_inflight_bytes(m.gauge("shoal_engine_cache_inflight_bytes",
                                   "Cache budget reserved by fetches in flight")),
      gets(m.counter("shoal_engine_gets_total", "GET requests issued to the object store")),
      get_bytes(m.counter("shoal_engine_get_bytes_total", "Bytes received by GET requests")),
      get_errors(m.counter("shoal_engine_get_errors_total",
                           "GET requests that failed after the store's retries")),
      get_latency(m.histogram("shoal_engine_get_latency_seconds",
                              "GET latency including the store's retries",
                              latency_buckets_seconds())),
      gets_in_flight(m.gauge("shoal_engine_gets_in_flight", "GET requests in flight")),
      changed_objects(m.counter("shoal_engine_changed_objects_total",
                                "Objects found changed or deleted since indexing (EIO)")) {}

void EngineMetrics::sync_cache(const CacheStats& now) {
  prefetch_used.inc(now.prefetch_used - last_.prefetch_used);
  prefetch_wasted.inc(now.prefetch_wasted - last_.prefetch_wasted);
  cache_bytes.add(static_cast<int64_t>(now.bytes) - static_cast<int64_t>(last_.bytes));
  cache_inflight_bytes.add(static_cast<int64_t>(now.inflight_bytes) -
                           static_cast<int64_t>(last_.inflight_bytes));
  last_ = now;
}

void EngineMetrics::withdraw_gauges() {
  cache_bytes.add(-static_cast<int64_t>(last_.bytes));
  cache_inflight_bytes.add(-static_cast<int64_t>(last_.inflight_bytes));
  last_.bytes = 0;
  last_.inflight_bytes = 0;
}

}  // namespace shoal::engine
