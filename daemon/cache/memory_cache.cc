#include "daemon/cache/memory_cache.h"

#include <algorithm>

namespace shoal {
namespace {

constexpr uint8_t kMaxFreq = 3;
// The ghost queue remembers as many keys as the main queue holds entries (as in the S3-FIFO
// paper), and at least this many so a small cache still recognises recent victims.
constexpr size_t kMinGhostKeys = 256;

}  // namespace

CacheReservation::CacheReservation(CacheReservation&& other) noexcept
    : cache_(other.cache_), bytes_(other.bytes_), buffer_(std::move(other.buffer_)) {
  other.cache_ = nullptr;
  other.bytes_ = 0;
}

CacheReservation& CacheReservation::operator=(CacheReservation&& other) noexcept {
  if (this != &other) {
    release();
    cache_ = other.cache_;
    bytes_ = other.bytes_;
    buffer_ = std::move(other.buffer_);
    other.cache_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

void CacheReservation::release() {
  if (cache_ != nullptr) cache_->release(bytes_);
  buffer_.reset();
  cache_ = nullptr;
  bytes_ = 0;
}

Result<std::unique_ptr<MemoryCache>> MemoryCache::create(uint64_t budget_bytes,
                                                         std::shared_ptr<BufferPool> pool) {
  if (budget_bytes == 0) {
    return Error(ErrorKind::kInvalidArgument,
                 "memory cache budget is 0 bytes: set cache.memory to a positive size");
  }
  if (pool == nullptr) {
    SHOAL_ASSIGN(pool, BufferPool::create(budget_bytes));
  }
  return std::unique_ptr<MemoryCache>(new MemoryCache(budget_bytes, std::move(pool)));
}

MemoryCache::MemoryCache(uint64_t budget_bytes, std::shared_ptr<BufferPool> pool)
    : budget_(budget_bytes), pool_(std::move(pool)), small_target_(budget_bytes / 10) {}

CacheStats MemoryCache::stats() const {
  CacheStats s = stats_;
  s.entries = entries_.size();
  return s;
}

bool MemoryCache::fits(uint64_t bytes) const {
  return stats_.bytes + stats_.inflight_bytes + bytes <= budget_;
}

Result<CacheReservation> MemoryCache::reserve(uint64_t size) {
  uint64_t bytes = footprint(size);
  if (bytes > budget_) {
    return Error(ErrorKind::kInvalidArgument,
                 "a fetch of " + std::to_string(size) + " bytes can never fit the " +
                     std::to_string(budget_) + "-byte memory cache: raise cache.memory or "
                     "lower fetch.chunk_size");
  }
  while (!fits(bytes)) {
    if (!evict_one()) {
      ++stats_.reserve_failures;
      return Error(ErrorKind::kNoSpace,
                   "memory cache budget held by in-flight fetches and buffers in use (" +
                       std::to_string(stats_.inflight_bytes) + " bytes in flight)");
    }
  }
  Result<PoolBuffer> buffer = pool_->allocate(size);
  if (!buffer.ok()) {  // a pool shared with other caches, all of whose room is taken
    ++stats_.reserve_failures;
    return std::move(buffer).error();
  }
  stats_.inflight_bytes += bytes;
  return CacheReservation(this, bytes, std::move(buffer).value());
}

Result<CacheBuffer> MemoryCache::insert_copy(CacheReservation reservation, CacheKey key,
                                             std::string_view data, CacheOrigin origin) {
  if (reservation.cache_ == this && data.size() <= reservation.buffer_.size())
    reservation.buffer_.write(0, data);
  return insert(std::move(reservation), key, data.size(), origin);  // which checks the rest
}

Result<CacheBuffer> MemoryCache::insert(CacheReservation reservation, CacheKey key,
                                        uint64_t size, CacheOrigin origin) {
  if (reservation.cache_ != this) {
    return Error(ErrorKind::kInvalidArgument, "cache insert without a reservation of this cache");
  }
  if (size > reservation.buffer_.size()) {
    return Error(ErrorKind::kInvalidArgument,
                 "cache insert of " + std::to_string(size) + " bytes for object " +
                     std::to_string(key.object) + " chunk " + std::to_string(key.chunk) +
                     " exceeds its reservation of " + std::to_string(reservation.buffer_.size()));
  }
  PoolBuffer buffer = std::move(reservation.buffer_);
  reservation.release();  // its bytes become the entry's charge, which is no larger
  uint64_t packed = key.packed();
  if (auto it = entries_.find(packed); it != entries_.end()) return it->second.data;

  buffer.shrink(size);  // a shorter object gives its last pages back
  Entry e;
  e.charge = footprint(size);
  e.data = std::make_shared<const PoolBuffer>(std::move(buffer));
  e.prefetched = origin == CacheOrigin::kPrefetch;
  // A key evicted from the small queue not long ago is being asked for again: it was not a
  // one-hit wonder after all, so it skips probation.
  if (take_ghost(packed)) {
    ++stats_.ghost_hits;
    main_.push_back(packed);
  } else {
    small_.push_back(packed);
    small_bytes_ += e.charge;
  }
  stats_.bytes += e.charge;
  ++stats_.inserts;
  CacheBuffer out = e.data;
  entries_.emplace(packed, std::move(e));
  return out;
}

CacheBuffer MemoryCache::lookup(CacheKey key) {
  auto it = entries_.find(key.packed());
  if (it == entries_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  Entry& e = it->second;
  ++stats_.hits;
  e.freq = std::min<uint8_t>(e.freq + 1, kMaxFreq);
  if (e.prefetched && !e.used) ++stats_.prefetch_used;
  e.used = true;
  return e.data;
}

// One eviction, S3-FIFO style: the small queue gives way while it holds at least its 10%
// share, the main queue otherwise. Pinned entries are passed over; when every resident entry
// has been passed over in a row, nothing can be evicted.
bool MemoryCache::evict_one() {
  size_t small_skips = 0;
  size_t main_skips = 0;
  for (;;) {
    bool small_ok = small_skips < small_.size();
    bool main_ok = main_skips < main_.size();
    if (!small_ok && !main_ok) return false;
    bool from_small = small_ok && (small_bytes_ >= small_target_ || !main_ok);
    Step step = from_small ? step_small() : step_main();
    if (step == Step::kEvicted) return true;
    size_t& skips = from_small ? small_skips : main_skips;
    // Consecutive skips only: a move or a frequency decrement changed the picture.
    skips = step == Step::kPinned ? skips + 1 : 0;
  }
}

// The oldest small-queue entry goes to main if it was looked up while on probation, else out
// (its key to the ghost queue).
MemoryCache::Step MemoryCache::step_small() {
  uint64_t key = small_.front();
  small_.pop_front();
  Entry& e = entries_.at(key);
  if (pinned(e)) {
    small_.push_back(key);
    return Step::kPinned;
  }
  small_bytes_ -= e.charge;
  if (e.freq > 0) {
    main_.push_back(key);
    return Step::kMoved;
  }
  remember_ghost(key);
  drop(key, e);
  return Step::kEvicted;
}

// The oldest main-queue entry gets another round for each lookup it had (a CLOCK-like second
// chance, capped at 3), else goes out.
MemoryCache::Step MemoryCache::step_main() {
  uint64_t key = main_.front();
  main_.pop_front();
  Entry& e = entries_.at(key);
  if (pinned(e)) {
    main_.push_back(key);
    return Step::kPinned;
  }
  if (e.freq > 0) {
    --e.freq;
    main_.push_back(key);
    return Step::kMoved;
  }
  drop(key, e);
  return Step::kEvicted;
}

void MemoryCache::drop(uint64_t key, Entry& e) {
  if (e.prefetched && !e.used) ++stats_.prefetch_wasted;
  ++stats_.evictions;
  stats_.bytes -= e.charge;
  entries_.erase(key);
}

void MemoryCache::remember_ghost(uint64_t key) {
  uint64_t ticket = next_ticket_++;
  ghost_[key] = ticket;
  ghost_fifo_.push_back(GhostRecord{key, ticket});
  size_t limit = std::max(main_.size(), kMinGhostKeys);
  while (ghost_fifo_.size() > limit) {
    GhostRecord old = ghost_fifo_.front();
    ghost_fifo_.pop_front();
    auto it = ghost_.find(old.key);
    if (it != ghost_.end() && it->second == old.ticket) ghost_.erase(it);
  }
}

bool MemoryCache::take_ghost(uint64_t key) { return ghost_.erase(key) != 0; }

}  // namespace shoal
