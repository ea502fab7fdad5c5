// The engine's memory cache of object data: immutable chunks keyed by (object, chunk index),
// under a hard byte budget that also counts the buffers of fetches still in flight, evicted
// with S3-FIFO (docs/cache.md says why).
//
// The budget covers: resident chunks + outstanding reservations. A fetch reserves its bytes
// before it starts (reserve() evicts to make room) and insert() turns the reservation into a
// resident entry. The memory is a BufferPool's (buffer_pool.h): a reservation holds the pool
// buffer the fetch writes its body into, and insert() publishes that same buffer, so nothing
// is allocated, copied or faulted in between. Buffers are shared: a frontend may keep reading
// one after it was looked up, and while it does the entry is pinned (eviction skips it), so
// memory held by readers never escapes the budget; a buffer's pages go back to the pool when
// its last holder drops it. Each buffer is charged its pages (footprint()), exactly what the
// pool holds for it. Not counted: the per-entry bookkeeping (about 150 bytes).
//
// Single-threaded: one cache per worker loop, used only on that loop's thread. The pool may
// be shared by several caches (each within its own budget); see buffer_pool.h.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/result.h"
#include "daemon/cache/buffer_pool.h"

namespace shoal {

struct CacheKey {
  uint32_t object = 0;  // index in the index file's object table
  uint32_t chunk = 0;   // chunk number inside the object (0 for whole-object fetches)

  uint64_t packed() const { return (uint64_t{object} << 32) | chunk; }
  friend bool operator==(const CacheKey&, const CacheKey&) = default;
};

// Read-only once published; its pages return to the pool when the last holder drops it.
using CacheBuffer = std::shared_ptr<const PoolBuffer>;

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

// Bytes of the budget held for one fetch, and the pool buffer of that many bytes its body goes
// into. Released when dropped (a failed fetch just lets it go: budget and pages return at once)
// or consumed by MemoryCache::insert(). Must not outlive its cache.
class CacheReservation {
 public:
  CacheReservation() = default;
  CacheReservation(CacheReservation&& other) noexcept;
  CacheReservation& operator=(CacheReservation&& other) noexcept;
  CacheReservation(const CacheReservation&) = delete;
  CacheReservation& operator=(const CacheReservation&) = delete;
  ~CacheReservation() { release(); }

  uint64_t bytes() const { return bytes_; }  // charged to the budget: the buffer's pages
  bool active() const { return cache_ != nullptr; }
  // Where the fetch writes: size() is the fetch's length. A fetch whose store writes after its
  // owner may be gone (an asynchronous GET) moves the buffer out into the store's callback
  // and moves it back before insert(); the budget stays charged meanwhile.
  PoolBuffer& buffer() { return buffer_; }
  void release();

 private:
  friend class MemoryCache;
  CacheReservation(MemoryCache* cache, uint64_t bytes, PoolBuffer buffer)
      : cache_(cache), bytes_(bytes), buffer_(std::move(buffer)) {}

  MemoryCache* cache_ = nullptr;
  uint64_t bytes_ = 0;
  PoolBuffer buffer_;
};

class MemoryCache {
 public:
  // What a buffer of `bytes` costs in memory, and so what the budget is charged: its whole
  // pool pages (a 100 KiB object takes 25 pages, a 1 KiB one a page).
  static constexpr uint64_t footprint(uint64_t bytes) { return BufferPool::footprint(bytes); }

  // A zero budget is refused: every fetch would fail. Without a pool the cache makes its own,
  // of exactly the budget; a shared pool must have room for this budget besides its other
  // users' (a reservation the pool cannot serve fails with kNoSpace like a full budget).
  static Result<std::unique_ptr<MemoryCache>> create(uint64_t budget_bytes,
                                                     std::shared_ptr<BufferPool> pool = nullptr);
  MemoryCache(const MemoryCache&) = delete;
  MemoryCache& operator=(const MemoryCache&) = delete;

  // Holds footprint(bytes) of the budget for a fetch of `bytes`, evicting unpinned entries to
  // make room, and a pool buffer of `bytes` for the fetch to write into. Fails with kNoSpace
  // when in-flight and pinned data leave too little even after eviction (retry once some of it
  // is released), with kInvalidArgument when bytes exceed the whole budget.
  Result<CacheReservation> reserve(uint64_t bytes);
  // Publishes the first `size` bytes (at most the reserved size) of the reservation's buffer,
  // which the fetch has written, and returns the shared buffer; pages past `size` go back to
  // the pool. If the key is already cached, the cached buffer is kept and returned.
  Result<CacheBuffer> insert(CacheReservation reservation, CacheKey key, uint64_t size,
                             CacheOrigin origin);
  // The same for bytes that arrived elsewhere (a store that does not write in place, tests):
  // copies them into the reservation's buffer first.
  Result<CacheBuffer> insert_copy(CacheReservation reservation, CacheKey key,
                                  std::string_view data, CacheOrigin origin);
  // The buffer, or null on a miss. Counts a hit or a miss and bumps the entry's frequency.
  CacheBuffer lookup(CacheKey key);
  // Whether the key is resident, without touching statistics or frequencies (for prefetch).
  bool contains(CacheKey key) const { return entries_.count(key.packed()) != 0; }

  uint64_t budget() const { return budget_; }
  // The probation (small) queue's share of the budget: where new entries wait for their first
  // use. Prefetched data that has not been read yet lives there, so more of it than this
  // pushes itself out unread.
  uint64_t probation_bytes() const { return small_target_; }
  CacheStats stats() const;
  const std::shared_ptr<BufferPool>& pool() const { return pool_; }

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

  MemoryCache(uint64_t budget_bytes, std::shared_ptr<BufferPool> pool);
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
  std::shared_ptr<BufferPool> pool_;
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
