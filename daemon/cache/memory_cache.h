// The engine's memory cache of object data: immutable chunks keyed by (object, chunk index),
// under a hard byte budget that also counts the buffers of fetches still in flight, evicted
// with S3-FIFO (docs/cache.md says why).
//
// The budget covers: resident chunks + outstanding reservations. A fetch reserves its bytes
// before it starts (reserve() evicts to make room) and insert() turns the reservation into a
// resident entry. Buffers are shared: a frontend may keep reading one after it was looked up,
// and while it does the entry is pinned (eviction skips it), so memory held by readers never
// escapes the budget. Buffers are charged what the allocator really holds for them (see
// footprint()), not just their size. Not counted: the per-entry bookkeeping (about 150 bytes)
// and slack a caller's std::string may carry beyond its size.
//
// Single-threaded: one cache per worker loop, used only on that loop's thread.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/result.h"

namespace shoal {

struct CacheKey {
  uint32_t object = 0;  // index in the index file's object table
  uint32_t chunk = 0;   // chunk number inside the object (0 for whole-object fetches)

  uint64_t packed() const { return (uint64_t{object} << 32) | chunk; }
  friend bool operator==(const CacheKey&, const CacheKey&) = default;
};

using CacheBuffer = std::shared_ptr<const std::string>;

enum class CacheOrigin {
  kDemand,    // fetched because a reader asked for it
  kPrefetch,  // fetched ahead of readers: counted as used or wasted
};

struct CacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t inserts = 0;
  uint64_t evictions = 0;
  uint64_t ghost_hits = 0;        // inserts that went straight to the main queue
  uint64_t prefetch_used = 0;     // prefetched entries looked up at least once
  uint64_t prefetch_wasted = 0;   // prefetched entries evicted without a lookup
  uint64_t reserve_failures = 0;  // reserve() refused: budget held by in-flight or pinned data
  uint64_t bytes = 0;             // resident
  uint64_t inflight_bytes = 0;    // reserved by fetches not inserted yet
  uint64_t entries = 0;
};

class MemoryCache;

// Bytes of the budget held for one fetch. Released when dropped (a failed fetch just lets it
// go) or consumed by MemoryCache::insert(). Must not outlive its cache.
class CacheReservation {
 public:
  CacheReservation() = default;
  CacheReservation(CacheReservation&& other) noexcept;
  CacheReservation& operator=(CacheReservation&& other) noexcept;
  CacheReservation(const CacheReservation&) = delete;
  CacheReservation& operator=(const CacheReservation&) = delete;
  ~CacheReservation() { release(); }

  uint64_t bytes() const { return bytes_; }
  bool active() const { return cache_ != nullptr; }
  void release();

 private:
  friend class MemoryCache;
  CacheReservation(MemoryCache* cache, uint64_t bytes) : cache_(cache), bytes_(bytes) {}

  MemoryCache* cache_ = nullptr;
  uint64_t bytes_ = 0;
};

class MemoryCache {
 public:
  // Buffers of this size and up get a mapping of their own: shoald sets glibc's mmap threshold
  // here, so an evicted buffer goes straight back to the kernel instead of leaving a hole in the
  // heap that RSS keeps (eviction order is not allocation order).
  static constexpr uint64_t kOwnMappingFrom = 64 * 1024;
  // What a buffer of `bytes` costs in memory, and so what the budget is charged: below
  // kOwnMappingFrom its size; from there whole pages, including the allocator's header and the
  // string's terminator (a 100 KiB object takes 26 pages, 4% over its size).
  static uint64_t footprint(uint64_t bytes);

  // A zero budget is refused: every fetch would fail.
  static Result<std::unique_ptr<MemoryCache>> create(uint64_t budget_bytes);
  MemoryCache(const MemoryCache&) = delete;
  MemoryCache& operator=(const MemoryCache&) = delete;

  // Holds footprint(bytes) of the budget for a fetch of `bytes`, evicting unpinned entries to make room. Fails
  // with kNoSpace when in-flight and pinned data leave too little even after eviction (retry
  // once some of it is released), with kInvalidArgument when bytes exceed the whole budget.
  Result<CacheReservation> reserve(uint64_t bytes);
  // Stores the fetched bytes (at most the reserved size) and returns the shared buffer. If
  // the key is already cached, the cached buffer is kept and returned.
  Result<CacheBuffer> insert(CacheReservation reservation, CacheKey key, std::string data,
                             CacheOrigin origin);
  // The buffer, or null on a miss. Counts a hit or a miss and bumps the entry's frequency.
  CacheBuffer lookup(CacheKey key);
  // Whether the key is resident, without touching statistics or frequencies (for prefetch).
  bool contains(CacheKey key) const { return entries_.count(key.packed()) != 0; }

  uint64_t budget() const { return budget_; }
  CacheStats stats() const;

 private:
  enum class Step { kEvicted, kMoved, kPinned };
  struct Entry {
    CacheBuffer data;
    uint64_t charge = 0;
    uint8_t freq = 0;  // lookups since insertion or since the last pass through main, max 3
    bool prefetched = false;
    bool used = false;
  };
  struct GhostRecord {
    uint64_t key;
    uint64_t ticket;
  };

  explicit MemoryCache(uint64_t budget_bytes);
  void release(uint64_t bytes) { stats_.inflight_bytes -= bytes; }
  bool fits(uint64_t bytes) const;
  bool evict_one();
  Step step_small();
  Step step_main();
  bool pinned(const Entry& e) const { return e.data.use_count() > 1; }
  void drop(uint64_t key, Entry& e);
  void remember_ghost(uint64_t key);
  bool take_ghost(uint64_t key);

  friend class CacheReservation;

  uint64_t budget_;
  uint64_t small_target_;  // 10% of the budget
  uint64_t small_bytes_ = 0;
  std::unordered_map<uint64_t, Entry> entries_;
  std::deque<uint64_t> small_;  // front = oldest
  std::deque<uint64_t> main_;   // front = oldest
  std::unordered_map<uint64_t, uint64_t> ghost_;  // key → ticket of its live record
  std::deque<GhostRecord> ghost_fifo_;            // records of dead tickets are skipped
  uint64_t next_ticket_ = 1;
  CacheStats stats_;
};

}  // namespace shoal
