#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "daemon/cache/memory_cache.h"

namespace shoal {
namespace {

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
  auto b = c.insert(std::move(r).value(), k, std::string(size, char('a' + k.object % 26)), origin);
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
  auto c = make_cache(1000);
  ASSERT_TRUE(c);
  auto r = c->reserve(1001);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_TRUE(c->reserve(1000).ok());
}

TEST(MemoryCache, LookupReturnsTheInsertedBytesAndCountsHitsAndMisses) {
  auto c = make_cache(1000);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->lookup(key(1)), nullptr);
  put(*c, key(1, 7), 10);
  EXPECT_EQ(c->lookup(key(1, 0)), nullptr);  // other chunk of the same object
  CacheBuffer b = c->lookup(key(1, 7));
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(*b, std::string(10, 'b'));
  EXPECT_TRUE(c->contains(key(1, 7)));
  CacheStats s = c->stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.inserts, 1u);
  EXPECT_EQ(s.bytes, 10u);
  EXPECT_EQ(s.entries, 1u);
}

TEST(MemoryCache, ReservationsCountAgainstTheBudget) {
  auto c = make_cache(100);
  ASSERT_TRUE(c);
  auto first = c->reserve(60);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(c->stats().inflight_bytes, 60u);
  auto second = c->reserve(50);  // nothing resident to evict: only in-flight bytes
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind, ErrorKind::kNoSpace);
  EXPECT_EQ(c->stats().reserve_failures, 1u);
  first->release();
  EXPECT_EQ(c->stats().inflight_bytes, 0u);
  EXPECT_TRUE(c->reserve(50).ok());
}

TEST(MemoryCache, DroppedReservationIsReleasedExactlyOnce) {
  auto c = make_cache(100);
  ASSERT_TRUE(c);
  {
    auto r = c->reserve(40);
    ASSERT_TRUE(r.ok());
    CacheReservation moved = std::move(r).value();
    CacheReservation again = std::move(moved);
    EXPECT_FALSE(moved.active());  // NOLINT: checking the moved-from state on purpose
    EXPECT_EQ(again.bytes(), 40u);
    EXPECT_EQ(c->stats().inflight_bytes, 40u);
  }  // the fetch failed: nothing inserted
  EXPECT_EQ(c->stats().inflight_bytes, 0u);
  EXPECT_EQ(c->stats().bytes, 0u);
}

TEST(MemoryCache, InsertLargerThanItsReservationIsRefusedAndReleased) {
  auto c = make_cache(100);
  ASSERT_TRUE(c);
  auto r = c->reserve(10);
  ASSERT_TRUE(r.ok());
  auto b = c->insert(std::move(r).value(), key(1), std::string(11, 'x'), CacheOrigin::kDemand);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(c->stats().inflight_bytes, 0u);
  EXPECT_FALSE(c->contains(key(1)));

  auto none = c->insert(CacheReservation{}, key(2), "y", CacheOrigin::kDemand);
  EXPECT_FALSE(none.ok());
}

TEST(MemoryCache, ShorterInsertReturnsTheUnusedPartOfTheReservation) {
  auto c = make_cache(100);
  ASSERT_TRUE(c);
  auto r = c->reserve(50);  // the object turned out shorter than the chunk
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(c->insert(std::move(r).value(), key(1), std::string(20, 'x'),
                        CacheOrigin::kDemand).ok());
  EXPECT_EQ(c->stats().bytes, 20u);
  EXPECT_EQ(c->stats().inflight_bytes, 0u);
}

TEST(MemoryCache, DuplicateInsertKeepsTheCachedBuffer) {
  auto c = make_cache(100);
  ASSERT_TRUE(c);
  put(*c, key(1), 10);
  auto r = c->reserve(10);
  ASSERT_TRUE(r.ok());
  auto b = c->insert(std::move(r).value(), key(1), std::string(10, 'z'), CacheOrigin::kDemand);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(**b, std::string(10, 'b'));
  CacheStats s = c->stats();
  EXPECT_EQ(s.bytes, 10u);
  EXPECT_EQ(s.inflight_bytes, 0u);
  EXPECT_EQ(s.inserts, 1u);
}

TEST(MemoryCache, SmallQueueEvictsInInsertionOrderAndPromotesWhatWasUsed) {
  auto c = make_cache(400);
  ASSERT_TRUE(c);
  for (uint32_t k = 1; k <= 4; ++k) put(*c, key(k), 100);
  ASSERT_NE(c->lookup(key(2)), nullptr);
  put(*c, key(5), 100);  // evicts 1: the oldest, never used
  EXPECT_FALSE(c->contains(key(1)));
  put(*c, key(6), 100);  // 2 was used on probation: moves to main; 3 goes
  EXPECT_TRUE(c->contains(key(2)));
  EXPECT_FALSE(c->contains(key(3)));
  EXPECT_TRUE(c->contains(key(4)));
  EXPECT_EQ(c->stats().evictions, 2u);
}

TEST(MemoryCache, MainQueueGivesASecondChancePerUse) {
  auto c = make_cache(10000);  // small queue target: 1000 bytes
  ASSERT_TRUE(c);
  for (uint32_t k = 1; k <= 10; ++k) put(*c, key(k), 1000);
  for (uint32_t k = 1; k <= 10; ++k) ASSERT_NE(c->lookup(key(k)), nullptr);
  // All ten were used, so making room moves them all to main; each spends its one use on a
  // pass through main, and then the oldest, 1, goes.
  put(*c, key(11), 500);
  EXPECT_FALSE(c->contains(key(1)));
  ASSERT_NE(c->lookup(key(3)), nullptr);
  // The small queue (500 bytes) is under its target, so main gives way: 2 has no use left.
  ASSERT_TRUE(c->reserve(1000).ok());
  EXPECT_FALSE(c->contains(key(2)));
  ASSERT_TRUE(c->reserve(2000).ok());  // 3 was used again: passes; 4 goes
  EXPECT_TRUE(c->contains(key(3)));
  EXPECT_FALSE(c->contains(key(4)));
  EXPECT_TRUE(c->contains(key(11)));
  expect_within_budget(*c);
}

// A one-pass scan over data much bigger than the cache (a training epoch) must not flush a
// working set that is being reused.
TEST(MemoryCache, OneHitScanDoesNotEvictTheHotSet) {
  constexpr uint64_t kChunk = 1000;
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
  constexpr uint64_t kChunk = 100;
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
  auto c = make_cache(300);
  ASSERT_TRUE(c);
  put(*c, key(1), 100, CacheOrigin::kPrefetch);
  put(*c, key(2), 100, CacheOrigin::kPrefetch);
  put(*c, key(3), 100, CacheOrigin::kDemand);
  ASSERT_NE(c->lookup(key(1)), nullptr);
  ASSERT_NE(c->lookup(key(1)), nullptr);  // used counts once per entry
  EXPECT_EQ(c->stats().prefetch_used, 1u);
  EXPECT_EQ(c->stats().prefetch_wasted, 0u);
  ASSERT_TRUE(c->reserve(300).ok());  // makes everything go
  CacheStats s = c->stats();
  EXPECT_EQ(s.entries, 0u);
  EXPECT_EQ(s.evictions, 3u);
  EXPECT_EQ(s.prefetch_used, 1u);
  EXPECT_EQ(s.prefetch_wasted, 1u);  // 2 only: 1 was used, 3 was not a prefetch
}

TEST(MemoryCache, BuffersInUseArePinnedAndOutliveNothingOfTheBudget) {
  auto c = make_cache(300);
  ASSERT_TRUE(c);
  put(*c, key(1), 100);
  put(*c, key(2), 100);
  put(*c, key(3), 100);
  CacheBuffer held = c->lookup(key(1));  // a frontend is still sending these bytes
  ASSERT_NE(held, nullptr);
  put(*c, key(4), 100);  // 1 is oldest but pinned: 2 goes instead
  EXPECT_TRUE(c->contains(key(1)));
  EXPECT_FALSE(c->contains(key(2)));
  CacheBuffer h3 = c->lookup(key(3));
  CacheBuffer h4 = c->lookup(key(4));
  auto r = c->reserve(100);  // everything resident is in use
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kNoSpace);
  h4.reset();
  EXPECT_TRUE(c->reserve(100).ok());
  EXPECT_FALSE(c->contains(key(4)));
  EXPECT_EQ(*held, std::string(100, 'b'));
  expect_within_budget(*c);
}

TEST(MemoryCache, EntryLargerThanTheSmallQueue) {
  auto c = make_cache(10000);  // small queue target: 1000 bytes
  ASSERT_TRUE(c);
  put(*c, key(1), 6000);
  ASSERT_NE(c->lookup(key(1)), nullptr);
  put(*c, key(2), 6000);  // used on probation: 1 moves to main, then out of main to fit 2
  EXPECT_FALSE(c->contains(key(1)));
  EXPECT_TRUE(c->contains(key(2)));
  put(*c, key(3), 3000);
  put(*c, key(4), 10000);  // the whole budget: everything else goes
  CacheStats s = c->stats();
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, 10000u);
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
          size_t size = rng() % (res.bytes() + 1);
          ASSERT_TRUE(c->insert(std::move(res), k, std::string(size, 'd'),
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
