#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "daemon/cache/memory_cache.h"

namespace shoal {
namespace {

// The cache charges whole pool pages, so sizes here are in pages.
constexpr uint64_t P = BufferPool::kPageSize;

CacheKey key(uint32_t object, uint32_t chunk = 0) { return CacheKey{object, chunk}; }

std::unique_ptr<MemoryCache> make_cache(uint64_t budget) {
  auto c = MemoryCache::create(budget);
  if (!c.ok()) {
    ADD_FAILURE() << c.error().describe();
    return nullptr;
  }
  return std::move(c).value();
}

// Reserves and inserts `size` bytes filled with a byte derived from the key; fails the test
// if the cache refuses.
void put(MemoryCache& c, CacheKey k, size_t size, CacheOrigin origin = CacheOrigin::kDemand) {
  auto r = c.reserve(size);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  auto b = c.insert_copy(std::move(r).value(), k, std::string(size, char('a' + k.object % 26)), origin);
  ASSERT_TRUE(b.ok()) << b.error().describe();
}

void expect_within_budget(const MemoryCache& c) {
  CacheStats s = c.stats();
  EXPECT_LE(s.bytes + s.inflight_bytes, c.budget());
}

TEST(MemoryCache, ZeroBudgetIsRefused) {
  auto c = MemoryCache::create(0);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ErrorKind::kInvalidArgument);
}

TEST(MemoryCache, ReservationLargerThanTheBudgetCanNeverFit) {
  auto c = make_cache(1000 * P);
  ASSERT_TRUE(c);
  auto r = c->reserve(1001 * P);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_TRUE(c->reserve(1000 * P).ok());
}

TEST(MemoryCache, LookupReturnsTheInsertedBytesAndCountsHitsAndMisses) {
  auto c = make_cache(1000 * P);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->lookup(key(1)), nullptr);
  put(*c, key(1, 7), 10 * P);
  EXPECT_EQ(c->lookup(key(1, 0)), nullptr);  // other chunk of the same object
  CacheBuffer b = c->lookup(key(1, 7));
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->to_string(), std::string(10 * P, 'b'));
  EXPECT_TRUE(c->contains(key(1, 7)));
  CacheStats s = c->stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.inserts, 1u);
  EXPECT_EQ(s.bytes, 10 * P);
  EXPECT_EQ(s.entries, 1u);
}

TEST(MemoryCache, ReservationsCountAgainstTheBudget) {
  auto c = make_cache(100 * P);
  ASSERT_TRUE(c);
  auto first = c->reserve(60 * P);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(c->stats().inflight_bytes, 60 * P);
  auto second = c->reserve(50 * P);  // nothing resident to evict: only in-flight bytes
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind, ErrorKind::kNoSpace);
  EXPECT_EQ(c->stats().reserve_failures, 1u);
  first->release();
  EXPECT_EQ(c->stats().inflight_bytes, 0 * P);
  EXPECT_TRUE(c->reserve(50 * P).ok());
}

TEST(MemoryCache, DroppedReservationIsReleasedExactlyOnce) {
  auto c = make_cache(100 * P);
  ASSERT_TRUE(c);
  {
    auto r = c->reserve(40 * P);
    ASSERT_TRUE(r.ok());
    CacheReservation moved = std::move(r).value();
    CacheReservation again = std::move(moved);
    EXPECT_FALSE(moved.active());  // NOLINT: checking the moved-from state on purpose
    EXPECT_EQ(again.bytes(), 40 * P);
    EXPECT_EQ(c->stats().inflight_bytes, 40 * P);
  }  // the fetch failed: nothing inserted
  EXPECT_EQ(c->stats().inflight_bytes, 0 * P);
  EXPECT_EQ(c->stats().bytes, 0 * P);
}

TEST(MemoryCache, InsertLargerThanItsReservationIsRefusedAndReleased) {
  auto c = make_cache(100 * P);
  ASSERT_TRUE(c);
  auto r = c->reserve(10 * P);
  ASSERT_TRUE(r.ok());
  auto b = c->insert_copy(std::move(r).value(), key(1), std::string(11 * P, 'x'), CacheOrigin::kDemand);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(c->stats().inflight_bytes, 0 * P);
  EXPECT_FALSE(c->contains(key(1)));

  auto none = c->insert_copy(CacheReservation{}, key(2), "y", CacheOrigin::kDemand);
  EXPECT_FALSE(none.ok());
}

TEST(MemoryCache, ShorterInsertReturnsTheUnusedPartOfTheReservation) {
  auto c = make_cache(100 * P);
  ASSERT_TRUE(c);
  auto r = c->reserve(50 * P);  // the object turned out shorter than the chunk
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(c->insert_copy(std::move(r).value(), key(1), std::string(20 * P, 'x'),
                        CacheOrigin::kDemand).ok());
  EXPECT_EQ(c->stats().bytes, 20 * P);
  EXPECT_EQ(c->stats().inflight_bytes, 0 * P);
}

TEST(MemoryCache, DuplicateInsertKeepsTheCachedBuffer) {
  auto c = make_cache(100 * P);
  ASSERT_TRUE(c);
  put(*c, key(1), 10 * P);
  auto r = c->reserve(10 * P);
  ASSERT_TRUE(r.ok());
  auto b = c->insert_copy(std::move(r).value(), key(1), std::string(10 * P, 'z'), CacheOrigin::kDemand);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)->to_string(), std::string(10 * P, 'b'));
  CacheStats s = c->stats();
  EXPECT_EQ(s.bytes, 10 * P);
  EXPECT_EQ(s.inflight_bytes, 0u);
  EXPECT_EQ(s.inserts, 1u);
}

TEST(MemoryCache, SmallQueueEvictsInInsertionOrderAndPromotesWhatWasUsed) {
  auto c = make_cache(400 * P);
  ASSERT_TRUE(c);
  for (uint32_t k = 1; k <= 4; ++k) put(*c, key(k), 100 * P);
  ASSERT_NE(c->lookup(key(2)), nullptr);
  put(*c, key(5), 100 * P);  // evicts 1: the oldest, never used
  EXPECT_FALSE(c->contains(key(1)));
  put(*c, key(6), 100 * P);  // 2 was used on probation: moves to main; 3 goes
  EXPECT_TRUE(c->contains(key(2)));
  EXPECT_FALSE(c->contains(key(3)));
  EXPECT_TRUE(c->contains(key(4)));
  EXPECT_EQ(c->stats().evictions, 2u);
}

TEST(MemoryCache, MainQueueGivesASecondChancePerUse) {
  auto c = make_cache(100 * P);  // small queue target: 10 pages
  ASSERT_TRUE(c);
  for (uint32_t k = 1; k <= 10; ++k) put(*c, key(k), 10 * P);
  for (uint32_t k = 1; k <= 10; ++k) ASSERT_NE(c->lookup(key(k)), nullptr);
  // All ten were used, so making room moves them all to main; each spends its one use on a
  // pass through main, and then the oldest, 1, goes.
  put(*c, key(11), 5 * P);
  EXPECT_FALSE(c->contains(key(1)));
  ASSERT_NE(c->lookup(key(3)), nullptr);
  // The small queue (5 pages) is under its target, so main gives way: 2 has no use left.
  ASSERT_TRUE(c->reserve(10 * P).ok());
  EXPECT_FALSE(c->contains(key(2)));
  ASSERT_TRUE(c->reserve(20 * P).ok());  // 3 was used again: passes; 4 goes
  EXPECT_TRUE(c->contains(key(3)));
  EXPECT_FALSE(c->contains(key(4)));
  EXPECT_TRUE(c->contains(key(11)));
  expect_within_budget(*c);
}

// A one-pass scan over data much bigger than the cache (a training epoch) must not flush a
// working set that is being reused.
TEST(MemoryCache, OneHitScanDoesNotEvictTheHotSet) {
  constexpr uint64_t kChunk = 4 * P;
  auto c = make_cache(100 * kChunk);
  ASSERT_TRUE(c);
  constexpr uint32_t kHot = 30;
  for (uint32_t k = 0; k < kHot; ++k) put(*c, key(k), kChunk);
  for (uint32_t k = 0; k < kHot; ++k) ASSERT_NE(c->lookup(key(k)), nullptr);
  for (uint32_t s = 0; s < 1000; ++s) {
    put(*c, key(1000 + s), kChunk);  // read once, never again
    if (s % 100 == 0) {              // the hot set keeps being read now and then
      for (uint32_t k = 0; k < kHot; ++k) ASSERT_NE(c->lookup(key(k)), nullptr) << k;
    }
    expect_within_budget(*c);
  }
  for (uint32_t k = 0; k < kHot; ++k) EXPECT_TRUE(c->contains(key(k))) << "hot " << k;
  EXPECT_GT(c->stats().evictions, 900u);
}

TEST(MemoryCache, GhostHitGoesStraightToMain) {
  constexpr uint64_t kChunk = P;
  auto c = make_cache(10 * kChunk);
  ASSERT_TRUE(c);
  put(*c, key(1), kChunk);
  for (uint32_t k = 2; k <= 11; ++k) put(*c, key(k), kChunk);  // pushes 1 out, unused
  ASSERT_FALSE(c->contains(key(1)));
  put(*c, key(1), kChunk);  // asked for again soon after: remembered by the ghost queue
  EXPECT_EQ(c->stats().ghost_hits, 1u);
  // In main, 1 outlives a scan that runs through the small queue; a key seen once does not.
  put(*c, key(500), kChunk);
  for (uint32_t s = 0; s < 50; ++s) put(*c, key(1000 + s), kChunk);
  EXPECT_TRUE(c->contains(key(1)));
  EXPECT_FALSE(c->contains(key(500)));
}

TEST(MemoryCache, PrefetchUsedAndWastedAreCounted) {
  auto c = make_cache(300 * P);
  ASSERT_TRUE(c);
  put(*c, key(1), 100 * P, CacheOrigin::kPrefetch);
  put(*c, key(2), 100 * P, CacheOrigin::kPrefetch);
  put(*c, key(3), 100 * P, CacheOrigin::kDemand);
  ASSERT_NE(c->lookup(key(1)), nullptr);
  ASSERT_NE(c->lookup(key(1)), nullptr);  // used counts once per entry
  EXPECT_EQ(c->stats().prefetch_used, 1u);
  EXPECT_EQ(c->stats().prefetch_wasted, 0u);
  ASSERT_TRUE(c->reserve(300 * P).ok());  // makes everything go
  CacheStats s = c->stats();
  EXPECT_EQ(s.entries, 0u);
  EXPECT_EQ(s.evictions, 3u);
  EXPECT_EQ(s.prefetch_used, 1u);
  EXPECT_EQ(s.prefetch_wasted, 1u);  // 2 only: 1 was used, 3 was not a prefetch
}

TEST(MemoryCache, BuffersInUseArePinnedAndOutliveNothingOfTheBudget) {
  auto c = make_cache(300 * P);
  ASSERT_TRUE(c);
  put(*c, key(1), 100 * P);
  put(*c, key(2), 100 * P);
  put(*c, key(3), 100 * P);
  CacheBuffer held = c->lookup(key(1));  // a frontend is still sending these bytes
  ASSERT_NE(held, nullptr);
  put(*c, key(4), 100 * P);  // 1 is oldest but pinned: 2 goes instead
  EXPECT_TRUE(c->contains(key(1)));
  EXPECT_FALSE(c->contains(key(2)));
  CacheBuffer h3 = c->lookup(key(3));
  CacheBuffer h4 = c->lookup(key(4));
  auto r = c->reserve(100 * P);  // everything resident is in use
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kNoSpace);
  h4.reset();
  EXPECT_TRUE(c->reserve(100 * P).ok());
  EXPECT_FALSE(c->contains(key(4)));
  EXPECT_EQ(held->to_string(), std::string(100 * P, 'b'));
  expect_within_budget(*c);
}

TEST(MemoryCache, EntryLargerThanTheSmallQueue) {
  auto c = make_cache(100 * P);  // small queue target: 10 pages
  ASSERT_TRUE(c);
  put(*c, key(1), 60 * P);
  ASSERT_NE(c->lookup(key(1)), nullptr);
  put(*c, key(2), 60 * P);  // used on probation: 1 moves to main, then out of main to fit 2
  EXPECT_FALSE(c->contains(key(1)));
  EXPECT_TRUE(c->contains(key(2)));
  put(*c, key(3), 30 * P);
  put(*c, key(4), 100 * P);  // the whole budget: everything else goes
  CacheStats s = c->stats();
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, 100 * P);
  EXPECT_TRUE(c->contains(key(4)));
}

TEST(MemoryCache, BudgetHoldsUnderARandomMixOfFetchesReadsAndFailures) {
  constexpr uint64_t kBudget = 64 * 1024;
  auto c = make_cache(kBudget);
  ASSERT_TRUE(c);
  std::mt19937 rng(7);
  std::vector<std::pair<CacheKey, CacheReservation>> in_flight;
  std::vector<CacheBuffer> readers;
  uint64_t refused = 0;
  for (int i = 0; i < 20000; ++i) {
    switch (rng() % 5) {
      case 0:
      case 1: {  // start a fetch
        auto r = c->reserve(1 + rng() % 8192);
        if (r.ok()) {
          in_flight.emplace_back(key(rng() % 300, rng() % 4), std::move(r).value());
        } else {
          ASSERT_EQ(r.error().kind, ErrorKind::kNoSpace);
          ++refused;
        }
        break;
      }
      case 2: {  // a fetch ends: mostly stored, sometimes failed
        if (in_flight.empty()) break;
        size_t at = rng() % in_flight.size();
        auto [k, res] = std::move(in_flight[at]);
        in_flight.erase(in_flight.begin() + static_cast<long>(at));
        if (rng() % 4 != 0) {
          size_t size = rng() % (res.buffer().size() + 1);
          ASSERT_TRUE(c->insert_copy(std::move(res), k, std::string(size, 'd'),
                                rng() % 2 ? CacheOrigin::kPrefetch : CacheOrigin::kDemand)
                          .ok());
        }
        break;
      }
      case 3: {  // a reader looks something up and may hold it a while
        CacheBuffer b = c->lookup(key(rng() % 300, rng() % 4));
        if (b && rng() % 3 == 0) readers.push_back(std::move(b));
        break;
      }
      default:
        if (!readers.empty()) readers.erase(readers.begin());
        break;
    }
    CacheStats s = c->stats();
    ASSERT_LE(s.bytes + s.inflight_bytes, kBudget) << "step " << i;
  }
  EXPECT_GT(c->stats().evictions, 0u);
  EXPECT_GT(refused, 0u);  // the in-flight share did fill the budget at times
  in_flight.clear();
  EXPECT_EQ(c->stats().inflight_bytes, 0u);
}

}  // namespace
}  // namespace shoal
