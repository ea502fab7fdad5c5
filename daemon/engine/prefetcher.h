// The prefetcher: decides what to fetch before readers ask, and hands it to the fetcher at a
// prefetch priority (readahead > cross-file > warm-all). docs/engine.md gives the reasons.
//
// - Cross-file: files are laid out depth-first, name-sorted, the order a directory walk reads
//   them, so after a demand miss on the object at layout position i the next objects
//   i+1 … i+w are fetched. A reader moving through that window extends it (a stream); a few
//   streams are tracked so several sequential readers do not reset each other.
// - Window w follows the readers: it doubles (up to the maximum) once as many reads stepped
//   forward in a stream as the window is wide, and halves, down to 0 (no cross-file GETs),
//   once misses outside every stream (jumps) outnumber those steps; it also halves when more
//   prefetched units were evicted unread than used. From 0 the first step forward reopens it.
//   A stream never runs more bytes ahead than half the cache's probation queue, where unread
//   prefetched data waits (more would evict itself). Hints have their own window (at least
//   1), grown while hinted units are used, up to what half the probation queue holds of the
//   hinted objects (at most 4096), not to the cross-file maximum.
// - Readahead: reading chunk c of a large object from its start or right after chunk c-1
//   fetches the next chunks.
// - Hints: volume paths in the order the job will read them; reading hint k keeps hints
//   k+1 … k+h fetched (the first h at once), in hint order, h being the hint window.
// - Warm-all: every unit in layout order, while the cache has free budget (no eviction).
// In direct mode (PrefetchMode::kNone) cross-file and readahead are off; hints and warm-all are
// explicit requests and still run.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/cache/memory_cache.h"
#include "daemon/engine/engine_metrics.h"
#include "daemon/engine/engine_options.h"
#include "daemon/engine/fetcher.h"
#include "daemon/engine/read_plan.h"
#include "index/index_file.h"

namespace shoal::engine {

struct HintReport {
  size_t matched = 0;
  std::vector<std::string> unknown;  // paths with no file (or an empty one) in the volume
};

class Prefetcher {
 public:
  Prefetcher(const index::IndexFile& index, MemoryCache& cache, Fetcher& fetcher,
             FetchGeometry geometry, const EngineOptions& options, EngineMetrics& metrics);
  ~Prefetcher() {
    metrics_.prefetch_window.add(-int64_t{window_});
    metrics_.hint_window.add(-int64_t{hint_window_});
  }
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // A reader asked for `unit`; `miss` when it was not cached.
  void on_read(CacheKey unit, bool miss);
  // Replaces the hint list and starts fetching its first window.
  HintReport set_hints(const std::vector<std::string>& paths);
  void warm_all();
  uint32_t window() const { return window_; }

 private:
  struct Stream {
    uint64_t reader = 0;  // layout position last read
    uint64_t next = 0;    // first layout position not yet prefetched (reading it is a step)
    uint64_t used_at = 0; // recency, for replacing the stalest stream
  };

  enum class Move { kForward, kJump };
  void adapt_to_cache();
  void adapt_to_reader(Move move);
  void set_window(uint32_t window);
  void set_hint_window(uint32_t window);
  void readahead(uint32_t object, uint32_t chunk);
  void cross_file(uint64_t position, bool miss);
  void follow_hints(uint32_t object);
  void prefetch_object(uint32_t object, Priority priority);
  void prefetch_unit(CacheKey unit, Priority priority);
  void warm_next();
  bool layout_position(uint32_t object, uint64_t& position) const;
  uint32_t hint_window_ceiling() const { return hint_window_max_ > 0 ? hint_window_max_ : window_max_; }
  bool mine(uint32_t object) const { return !owns_ || owns_(object); }
  const std::unordered_map<std::string_view, uint32_t>& paths();

  const index::IndexFile& index_;
  MemoryCache& cache_;
  Fetcher& fetcher_;
  FetchGeometry geometry_;
  PrefetchMode mode_;
  uint32_t window_max_;
  uint32_t readahead_chunks_;
  EngineMetrics& metrics_;
  std::function<bool(uint32_t)> owns_;  // EngineOptions::owns

  uint32_t window_;       // cross-file, in objects; 0 while readers jump around
  uint32_t hint_window_;  // hints ahead of the last hinted read
  // The hint window's ceiling, set by set_hints(): what half the probation queue holds of the
  // hinted objects, at most kMaxHintWindow. Not window_max_: a hint list is the job's own order,
  // so running far ahead wastes nothing as long as what waits unread fits the cache, and at
  // 10 ms per GET a window of 64 files caps a job near 6,400 files/s whatever the store does.
  uint32_t hint_window_max_ = 0;
  uint64_t used_mark_ = 0;    // prefetch used + joined when a window last changed
  uint64_t wasted_mark_ = 0;  // prefetch wasted when a window last changed
  uint32_t forward_since_ = 0;  // reads one step forward in a stream since window_ changed
  uint32_t jumps_since_ = 0;    // misses outside every stream since window_ changed
  std::vector<Stream> streams_;
  uint64_t clock_ = 0;

  std::unordered_map<std::string_view, uint32_t> paths_;  // volume path → object, built lazily
  std::vector<uint32_t> hints_;                           // objects in hint order
  std::unordered_map<uint32_t, uint64_t> hint_position_;  // object → first place in hints_
  uint64_t hints_next_ = 0;                               // first hint not yet prefetched

  bool warming_ = false;
  uint64_t warm_extent_ = 0;
  uint32_t warm_chunk_ = 0;
  int warm_outstanding_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shoal::engine
