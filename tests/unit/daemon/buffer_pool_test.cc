// The buffer pool: pages reused instead of mapped and faulted in per buffer, runs kept
// together, exact accounting, buffers that outlive their cache, and release from other threads.
#include "daemon/cache/buffer_pool.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "daemon/cache/memory_cache.h"

namespace shoal {
namespace {

constexpr uint64_t P = BufferPool::kPageSize;
constexpr uint64_t kMiB = 1024 * 1024;

std::shared_ptr<BufferPool> make_pool(uint64_t capacity, bool huge_pages = true) {
  auto pool = BufferPool::create(capacity, BufferPool::Options{huge_pages});
  if (!pool.ok()) {
    ADD_FAILURE() << pool.error().describe();
    return nullptr;
  }
  return std::move(pool).value();
}

// Minor page faults of this process so far.
long minor_faults() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// Writes every byte of the buffer, as a GET's body does.
void fill(PoolBuffer& b, char c) {
  for (const iovec& v : b.iovecs()) std::memset(v.iov_base, c, v.iov_len);
}

TEST(BufferPool, FootprintIsWholePages) {
  EXPECT_EQ(BufferPool::footprint(0), 0u);
  EXPECT_EQ(BufferPool::footprint(1), P);
  EXPECT_EQ(BufferPool::footprint(P), P);
  EXPECT_EQ(BufferPool::footprint(100 * 1024 + 1), 26 * P);
}

TEST(BufferPool, BytesWrittenAreReadBackAcrossRuns) {
  auto pool = make_pool(64 * P);
  ASSERT_TRUE(pool);
  // Fragment the free pages so the next buffer is made of several runs.
  std::vector<PoolBuffer> keep, drop;
  for (int i = 0; i < 8; ++i) {
    auto b = pool->allocate(3 * P);
    ASSERT_TRUE(b.ok());
    (i % 2 ? drop : keep).push_back(std::move(b).value());
  }
  drop.clear();
  auto b = pool->allocate(10 * P + 5);
  ASSERT_TRUE(b.ok());
  EXPECT_GT(b->iovecs().size(), 1u) << "recycled pages of several freed buffers";
  uint64_t total = 0;
  for (const iovec& v : b->iovecs()) total += v.iov_len;
  EXPECT_EQ(total, 10 * P + 5);
  std::mt19937 rng(3);
  std::string data(10 * P + 5, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  b->write(0, data);
  EXPECT_EQ(b->to_string(), data);
  std::string middle(5000, '\0');
  b->read(P - 7, middle.size(), middle.data());
  EXPECT_EQ(middle, data.substr(P - 7, 5000));
}

TEST(BufferPool, AFreedBufferComesBackAsTheSameRun) {
  auto pool = make_pool(64 * P);
  ASSERT_TRUE(pool);
  auto first = pool->allocate(25 * P);
  ASSERT_TRUE(first.ok());
  const void* where = first->iovecs()[0].iov_base;
  first->reset();
  auto again = pool->allocate(25 * P);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->iovecs().size(), 1u);
  EXPECT_EQ(again->iovecs()[0].iov_base, where);
}

TEST(BufferPool, RefusesWhatItCannotHoldAndNeverGrowsPastItsCapacity) {
  auto pool = make_pool(10 * P);
  ASSERT_TRUE(pool);
  auto a = pool->allocate(6 * P);
  ASSERT_TRUE(a.ok());
  auto b = pool->allocate(5 * P);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().kind, ErrorKind::kNoSpace);
  EXPECT_TRUE(pool->allocate(4 * P).ok());
  BufferPoolStats s = pool->stats();
  EXPECT_EQ(s.refused, 1u);
  EXPECT_EQ(s.held_bytes, 6 * P);
  EXPECT_LE(s.touched_bytes, s.capacity_bytes);
}

TEST(BufferPool, ShrinkReturnsTheTailPages) {
  auto pool = make_pool(64 * P);
  ASSERT_TRUE(pool);
  auto b = pool->allocate(20 * P);
  ASSERT_TRUE(b.ok());
  b->write(0, std::string(P + 10, 'q'));
  b->shrink(P + 10);
  EXPECT_EQ(b->size(), P + 10);
  EXPECT_EQ(b->held(), 2 * P);
  EXPECT_EQ(pool->stats().held_bytes, 2 * P);
  EXPECT_EQ(b->to_string(), std::string(P + 10, 'q'));
}

// The point of the pool: once the arena is warm, fetch/evict cycles of 100 KiB buffers touch
// no new page. Without it each cycle faults in (and the kernel zeroes) 25 fresh pages.
TEST(BufferPool, SteadyStateCyclesTouchNoNewPages) {
  constexpr uint64_t kBuffer = 100 * 1024;
  constexpr int kLive = 64;  // a cache of 64 buffers, the oldest evicted for each new one
  constexpr int kCycles = 2000;
  auto pool = make_pool(kLive * BufferPool::footprint(kBuffer), /*huge_pages=*/false);
  ASSERT_TRUE(pool);
  std::vector<PoolBuffer> live;
  for (int i = 0; i < kLive; ++i) {  // warm-up: the cache fills once
    auto b = pool->allocate(kBuffer);
    ASSERT_TRUE(b.ok());
    fill(*b, 'w');
    live.push_back(std::move(b).value());
  }
  BufferPoolStats warm = pool->stats();
  live.reserve(live.size() + kCycles);  // so the test's own vector does not fault either
  std::mt19937 rng(5);
  long faults_before = minor_faults();
  for (int i = 0; i < kCycles; ++i) {
    live.erase(live.begin() + static_cast<std::ptrdiff_t>(rng() % live.size()));  // evict
    auto b = pool->allocate(kBuffer - rng() % 8192);  // the next GET
    ASSERT_TRUE(b.ok()) << b.error().describe();
    fill(*b, static_cast<char>(i));
    live.push_back(std::move(b).value());
  }
  long faults = minor_faults() - faults_before;
  BufferPoolStats after = pool->stats();
  EXPECT_EQ(after.fresh_pages, warm.fresh_pages) << "the pool grew in steady state";
  EXPECT_EQ(after.touched_bytes, warm.touched_bytes);
  EXPECT_EQ(after.allocations, warm.allocations + kCycles);
  // 2,000 cycles of 25 fresh pages would be 50,000 faults. What is left is not the arena's: each
  // buffer's small list of runs comes from malloc, whose freed blocks ASan quarantines instead
  // of reusing (about 100 faults here under ASan). So: under one fault
  // per ten cycles, against 25 per cycle without the pool.
  EXPECT_LT(faults, kCycles / 10) << "minor faults during " << kCycles << " allocate/free cycles";
}

TEST(BufferPool, PrefaultTouchesTheWholeArenaOnceWithoutChangingBuffersInUse) {
  constexpr uint64_t kCapacity = 256 * kMiB;
  auto created = BufferPool::create(kCapacity, BufferPool::Options{false, /*prefault=*/true});
  ASSERT_TRUE(created.ok()) << created.error().describe();
  std::shared_ptr<BufferPool> pool = std::move(created).value();
  // Buffers handed out and written while the prefault thread runs keep their bytes.
  std::vector<PoolBuffer> live;
  for (int i = 0; i < 64; ++i) {
    auto b = pool->allocate(100 * 1024);
    ASSERT_TRUE(b.ok());
    fill(*b, static_cast<char>('a' + i % 26));
    live.push_back(std::move(b).value());
  }
  for (int i = 0; i < 2000 && !pool->stats().prefault_done; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  BufferPoolStats s = pool->stats();
  ASSERT_TRUE(s.prefault_done) << "prefault still running after 20 s";
  EXPECT_EQ(s.prefaulted_bytes, pool->capacity()) << "MADV_POPULATE_WRITE failed (Linux < 5.14?)";
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(live[i].to_string(), std::string(100 * 1024, static_cast<char>('a' + i % 26)))
        << "buffer " << i << " changed under the prefault";
  }
  // The pages are in: writing the rest of the arena now faults (almost) nothing.
  live.clear();
  long faults_before = minor_faults();
  for (uint64_t left = pool->capacity(); left >= 1 * kMiB; left -= 1 * kMiB) {
    auto b = pool->allocate(1 * kMiB);
    ASSERT_TRUE(b.ok()) << b.error().describe();
    fill(*b, 'z');
    live.push_back(std::move(b).value());
  }
  long faults = minor_faults() - faults_before;
  // 256 MiB of 4 KiB pages would be 65,536 faults. What is left is not the arena's: under ASan
  // every 8 bytes written touch a byte of shadow memory, 32 MiB of it here (8,192 faults), and
  // malloc takes a few for the run lists. So: under a quarter of the arena's pages.
  EXPECT_LT(faults, static_cast<long>(kCapacity / P / 4)) << "minor faults filling a prefaulted arena";
}

TEST(BufferPool, APoolBeingPrefaultedMayBeDestroyedAtOnce) {
  auto created = BufferPool::create(1024 * kMiB, BufferPool::Options{true, /*prefault=*/true});
  ASSERT_TRUE(created.ok()) << created.error().describe();
  BufferPool* raw = created->get();
  EXPECT_FALSE(raw->stats().prefault_done) << "1 GiB prefaulted before the first look";
  // Stops the thread after its current step and joins it before unmapping: no fault on an
  // unmapped arena, no thread left behind (ASan and the leak checker would say).
  created = Error(ErrorKind::kInternal, "dropped");
}

TEST(BufferPool, ABufferOutlivesEveryOtherOwnerOfThePool) {
  PoolBuffer survivor;
  {
    auto pool = make_pool(8 * P);
    ASSERT_TRUE(pool);
    auto b = pool->allocate(3 * P);
    ASSERT_TRUE(b.ok());
    b->write(0, std::string(3 * P, 's'));
    survivor = std::move(b).value();
  }
  EXPECT_EQ(survivor.to_string(), std::string(3 * P, 's'));
  survivor.reset();  // returns its pages to a pool nobody else holds; unmaps it
}

TEST(BufferPool, BuffersMayBeReleasedOnOtherThreads) {
  auto pool = make_pool(4 * kMiB);
  ASSERT_TRUE(pool);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&pool, t] {
      std::mt19937 rng(t);
      std::vector<PoolBuffer> mine;
      for (int i = 0; i < 2000; ++i) {
        auto b = pool->allocate(1 + rng() % (64 * 1024));
        if (b.ok()) mine.push_back(std::move(b).value());
        if (mine.size() > 4 || !b.ok()) mine.erase(mine.begin());
      }
    });
  }
  for (auto& t : threads) t.join();
  BufferPoolStats s = pool->stats();
  EXPECT_EQ(s.held_bytes, 0u);
  EXPECT_LE(s.touched_bytes, s.capacity_bytes);
}

// What the cache's budget counts is what its pool holds, page for page, through reservations,
// inserts, short objects, duplicates, failed fetches, pinned readers and evictions.
TEST(BufferPool, CacheAccountingEqualsWhatThePoolHolds) {
  auto cache_or = MemoryCache::create(256 * P);
  ASSERT_TRUE(cache_or.ok());
  MemoryCache& c = **cache_or;
  BufferPool& pool = *c.pool();
  std::mt19937 rng(11);
  std::vector<std::pair<CacheKey, CacheReservation>> in_flight;
  std::vector<CacheBuffer> readers;
  for (int i = 0; i < 5000; ++i) {
    switch (rng() % 5) {
      case 0:
      case 1: {
        auto r = c.reserve(1 + rng() % (20 * P));
        if (r.ok()) in_flight.emplace_back(CacheKey{static_cast<uint32_t>(rng() % 200), 0},
                                           std::move(r).value());
        break;
      }
      case 2: {
        if (in_flight.empty()) break;
        size_t at = rng() % in_flight.size();
        auto [k, res] = std::move(in_flight[at]);
        in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(at));
        if (rng() % 4 != 0) {
          uint64_t size = rng() % (res.buffer().size() + 1);
          ASSERT_TRUE(c.insert(std::move(res), k, size, CacheOrigin::kDemand).ok());
        }
        break;
      }
      case 3: {
        CacheBuffer b = c.lookup(CacheKey{static_cast<uint32_t>(rng() % 200), 0});
        if (b && rng() % 3 == 0) readers.push_back(std::move(b));
        break;
      }
      default:
        if (!readers.empty()) readers.erase(readers.begin());
        break;
    }
    CacheStats s = c.stats();
    BufferPoolStats p = pool.stats();
    ASSERT_EQ(s.bytes + s.inflight_bytes, p.held_bytes) << "step " << i;
    ASSERT_LE(p.touched_bytes, c.budget()) << "step " << i;
  }
  in_flight.clear();
  readers.clear();
  EXPECT_EQ(c.stats().bytes, pool.stats().held_bytes);
}

}  // namespace
}  // namespace shoal
