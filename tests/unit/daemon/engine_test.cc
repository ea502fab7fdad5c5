// The block engine over a real file:// store: an index of a temporary tree, reads through the
// Engine compared with the image built from the source files, on a UringReactor.
#include "daemon/engine/engine.h"
#include "daemon/engine/engine_workers.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <numeric>
#include <optional>
#include <random>
#include <set>

#include "daemon/uring_reactor.h"
#include "index/builder.h"
#include "store/blocking_store.h"
#include "store/open_store.h"
#include "store/uri.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;
using index::IndexFile;

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;

// Forwards to a real store, counting GETs (and their keys, in order; each worker has its own
// store, so the count is locked for the test thread to read). Optionally hides
// If-Match support, so the engine must catch a changed object from the reply alone, and runs
// a check at every GET (the budget test looks at the cache there).
class CountingStore final : public ObjectStore {
 public:
  explicit CountingStore(std::unique_ptr<ObjectStore> inner) : inner_(std::move(inner)) {}

  Capabilities capabilities() const override {
    Capabilities c = inner_->capabilities();
    if (hide_if_match) c.if_match = false;
    return c;
  }
  std::string describe() const override { return "counting " + inner_->describe(); }
  void list(ListQuery q, Done<ListPage> d) override { inner_->list(std::move(q), std::move(d)); }
  void head(std::string k, Done<ObjectInfo> d) override { inner_->head(std::move(k), std::move(d)); }
  void get(GetQuery q, Done<GetReply> d) override {
    {
      std::lock_guard lock(mu_);
      get_keys.push_back(q.key);
    }
    if (!q.if_match.empty()) ++pinned_gets;
    if (on_get) on_get();
    inner_->get(std::move(q), std::move(d));
  }
  void put(std::string k, Body b, Done<PutReply> d) override {
    inner_->put(std::move(k), std::move(b), std::move(d));
  }
  void remove(std::string k, Done<void> d) override { inner_->remove(std::move(k), std::move(d)); }
  void create_multipart(std::string k, Done<std::string> d) override {
    inner_->create_multipart(std::move(k), std::move(d));
  }
  void upload_part(std::string k, std::string id, int n, Body b, Done<PartInfo> d) override {
    inner_->upload_part(std::move(k), std::move(id), n, std::move(b), std::move(d));
  }
  void complete_multipart(std::string k, std::string id, std::vector<PartInfo> p,
                          Done<PutReply> d) override {
    inner_->complete_multipart(std::move(k), std::move(id), std::move(p), std::move(d));
  }
  void abort_multipart(std::string k, std::string id, Done<void> d) override {
    inner_->abort_multipart(std::move(k), std::move(id), std::move(d));
  }
  void list_parts(std::string k, std::string id, Done<std::vector<PartInfo>> d) override {
    inner_->list_parts(std::move(k), std::move(id), std::move(d));
  }
  void append(std::string k, uint64_t pos, Body b, Done<PutReply> d) override {
    inner_->append(std::move(k), pos, std::move(b), std::move(d));
  }

  size_t gets() const {
    std::lock_guard lock(mu_);
    return get_keys.size();
  }
  size_t gets_of(const std::string& key) const {
    std::lock_guard lock(mu_);
    return static_cast<size_t>(std::count(get_keys.begin(), get_keys.end(), key));
  }
  std::vector<std::string> keys() const {
    std::lock_guard lock(mu_);
    return get_keys;
  }

  std::vector<std::string> get_keys;
  std::atomic<size_t> pinned_gets = 0;
  bool hide_if_match = false;
  std::function<void()> on_get;

 private:
  mutable std::mutex mu_;
  std::unique_ptr<ObjectStore> inner_;
};

std::string random_bytes(size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string data(size, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  return data;
}

void write_file(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

uint64_t counter(Metrics& m, const char* name) { return m.counter(name, "").value(); }

struct Config {
  const char* name;
  uint64_t budget;
  uint64_t whole_object_max;
  uint64_t chunk_size;
  PrefetchMode prefetch;
  int max_in_flight;
  double per_second;
  int workers = 1;
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(temp_.path().empty()) << "mkdtemp: " << std::strerror(errno);
    src_ = dir_ / "src" / "data";
    auto loop = UringReactor::create();
    ASSERT_TRUE(loop.ok()) << loop.error().describe();
    loop_ = std::move(loop).value();
  }
  void TearDown() override {
    workers_.reset();
    engine_.reset();
    store_ = nullptr;
    owned_store_.reset();
    loop_.reset();
    index_.reset();
  }

  // 40 small files (0 B – 150 KB) in four directories, two large ones, and names that sort
  // differently by key and by path ("a/x" before "a.txt" in the layout).
  void make_tree() {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 40; ++i) {
      size_t size = i % 10 == 3 ? 0 : rng() % (150 * kKiB);
      if (i % 7 == 0) size = 4096 * (1 + rng() % 4);  // exactly block-aligned
      add_file("d" + std::to_string(i % 4) + "/f" + std::to_string(i) + ".bin", size);
    }
    add_file("big/large1.bin", 700 * kKiB + 123);
    add_file("big/large2.bin", 1300 * kKiB);
    add_file("a/x", 5000);
    add_file("a.txt", 3000);
  }

  void add_file(const std::string& path, size_t size) {
    write_file(src_ / path, random_bytes(size, std::hash<std::string>{}(path)));
  }

  void build_index() {
    auto uri = parse_object_uri("file://" + src_.string());
    ASSERT_TRUE(uri.ok()) << uri.error().describe();
    uri_ = *uri;
    auto blocking = BlockingStore::open(*uri, StoreConfig{});
    ASSERT_TRUE(blocking.ok()) << blocking.error().describe();
    index::BuildOptions options;
    options.source = uri->to_string();
    options.prefix = index::directory_prefix(uri->prefix);
    prefix_ = options.prefix;
    index::ObjectCollector objects;
    index::BuildProgress progress;
    Status listed =
        index::list_parallel(blocking->async(), blocking->reactor(), options, objects, progress);
    ASSERT_TRUE(listed.ok()) << listed.error().describe();
    std::string path = (dir_ / "volume.shix").string();
    auto report = index::write_index(objects, options, path, progress);
    ASSERT_TRUE(report.ok()) << report.error().describe();
    auto file = IndexFile::open(path);
    ASSERT_TRUE(file.ok()) << file.error().describe();
    index_ = std::make_unique<IndexFile>(std::move(file).value());
    build_image();
  }

  // The device as it must read: metadata from the index, each file's bytes at its extent.
  void build_image() {
    image_.assign(index_->device_bytes(), '\0');
    std::memcpy(image_.data(), index_->metadata().data(), index_->metadata().size());
    for (const index::Extent& e : index_->extents()) {
      const index::ObjectRecord& r = index_->objects()[e.object];
      std::string data = read_file(src_ / std::string(index_->key(r)));
      ASSERT_EQ(data.size(), r.size) << index_->key(r);
      std::memcpy(image_.data() + uint64_t{e.first_block} * 4096, data.data(), data.size());
    }
  }

  void open_store(bool hide_if_match = false) {
    auto store = shoal::open_store(uri_, StoreConfig{}, *loop_);
    ASSERT_TRUE(store.ok()) << store.error().describe();
    owned_store_ = std::make_unique<CountingStore>(std::move(store).value());
    owned_store_->hide_if_match = hide_if_match;
    store_ = owned_store_.get();
  }

  Result<std::unique_ptr<Engine>> make_engine(uint64_t budget, EngineOptions options) {
    auto cache = MemoryCache::create(budget);
    if (!cache.ok()) return std::move(cache).error();
    cache_ = std::move(cache).value();
    if (!options.log) options.log = [this](std::string_view line) { log_.emplace_back(line); };
    return Engine::create(*index_, *store_, *cache_, *loop_, std::move(options), metrics_);
  }

  // The test tree indexed and served from file:// in direct mode with room for all of it.
  void start_direct_engine_on_the_tree() {
    make_tree();
    ASSERT_NO_FATAL_FAILURE(build_index());
    open_store();
    EngineOptions options;
    options.prefetch = PrefetchMode::kNone;
    ASSERT_NO_FATAL_FAILURE(start_engine(64 * kMiB, options));
  }

  void start_engine(uint64_t budget, EngineOptions options = {}) {
    auto engine = make_engine(budget, std::move(options));
    ASSERT_TRUE(engine.ok()) << engine.error().describe();
    engine_ = std::move(engine).value();
    device_ = engine_.get();
  }

  // `n` engines on their own loops (worker 0 on loop_), objects owned in runs of `run`, each
  // worker with its own counting store over the same tree.
  void start_workers(uint64_t budget, EngineOptions options, int n, uint32_t run = 4) {
    if (!options.log) {
      options.log = [this](std::string_view line) {
        std::lock_guard lock(log_mu_);
        log_.emplace_back(line);
      };
    }
    auto pool = BufferPool::create(budget);
    ASSERT_TRUE(pool.ok()) << pool.error().describe();
    pool_ = *pool;
    auto open = [this](Reactor& loop) -> Result<std::unique_ptr<ObjectStore>> {
      SHOAL_ASSIGN(std::unique_ptr<ObjectStore> inner, shoal::open_store(uri_, StoreConfig{}, loop));
      auto store = std::make_unique<CountingStore>(std::move(inner));
      std::lock_guard lock(log_mu_);
      worker_stores_.push_back(store.get());
      return std::unique_ptr<ObjectStore>(std::move(store));
    };
    auto workers = EngineWorkers::start(*index_, *loop_, open, pool_, budget, std::move(options),
                                        metrics_, WorkerOptions{n, run});
    ASSERT_TRUE(workers.ok()) << workers.error().describe();
    workers_ = std::move(workers).value();
    device_ = workers_.get();
  }
  size_t worker_gets() {
    std::lock_guard lock(log_mu_);
    size_t n = 0;
    for (CountingStore* s : worker_stores_) n += s->gets();
    return n;
  }
  // One engine: its loop runs until `done` holds or nothing is left to wait for. Workers: see
  // eventually().
  void wait_for(const std::function<bool()>& done) {
    if (workers_ != nullptr) {
      eventually(done);
    } else {
      loop_->run_until(done);
    }
  }
  // Runs the home loop until `done` holds, for at most 30 s (work on other workers' loops
  // finishes on its own time).
  bool eventually(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      loop_->run_once(std::chrono::milliseconds(5));
    }
    return true;
  }

  struct Read {
    std::string data;
    std::optional<Status> status;
    std::vector<iovec> iov;
    size_t lent_pieces = 0;
  };

  // Starts a read of [offset, offset+length) into `pieces` iovecs, or (pieces == 0) lent by
  // the engine and gathered here once done; the loop completes it.
  std::unique_ptr<Read> start_read(uint64_t offset, uint64_t length, int pieces = 1) {
    auto r = std::make_unique<Read>();
    r->data.assign(length, '\x5a');
    if (pieces == 0) {
      Read* raw = r.get();
      device_->lend(offset, length, [raw, length](Result<LentBytes> lent) {
        if (!lent.ok()) {
          raw->status = lent.error();
          return;
        }
        std::string got;
        for (const iovec& v : lent->iov) got.append(static_cast<const char*>(v.iov_base), v.iov_len);
        raw->status = got.size() == length
                          ? Status{}
                          : Status(Error(ErrorKind::kInternal,
                                         "lent " + std::to_string(got.size()) + " bytes of " +
                                             std::to_string(length)));
        raw->data = std::move(got);
        raw->lent_pieces = lent->iov.size();
      });
      EXPECT_FALSE(raw->status.has_value()) << "done ran inline";
      return r;
    }
    uint64_t at = 0;
    for (int i = 0; i < pieces; ++i) {
      uint64_t n = i + 1 == pieces ? length - at : (length - at) / 2;
      r->iov.push_back(iovec{r->data.data() + at, n});
      at += n;
    }
    Read* raw = r.get();
    device_->readv(offset, r->iov, [raw](Status s) { raw->status = std::move(s); });
    EXPECT_FALSE(raw->status.has_value()) << "done ran inline";
    return r;
  }

  Status read(uint64_t offset, uint64_t length, std::string* out = nullptr) {
    auto r = start_read(offset, length);
    wait_for([&] { return r->status.has_value(); });
    if (!r->status) return Error(ErrorKind::kInternal, "the read never completed");
    if (out != nullptr) *out = r->data;
    return *r->status;
  }

  void expect_matches_image(uint64_t offset, uint64_t length) {
    std::string got;
    Status s = read(offset, length, &got);
    ASSERT_TRUE(s.ok()) << "read " << length << " at " << offset << ": " << s.error().describe();
    ASSERT_TRUE(got == image_.substr(offset, length)) << "bytes differ: read " << length << " at "
                                                      << offset;
  }

  void run_until_idle() { loop_->run_until([] { return false; }); }

  const index::Extent& extent_of(const std::string& path) {
    for (const index::Extent& e : index_->extents())
      if (index_->key(index_->objects()[e.object]) == path) return e;
    ADD_FAILURE() << "no extent for " << path;
    return index_->extents()[0];
  }
  uint64_t offset_of(const std::string& path) { return uint64_t{extent_of(path).first_block} * 4096; }
  uint64_t size_of(const std::string& path) {
    return index_->objects()[extent_of(path).object].size;
  }
  std::string key_of(const std::string& path) { return prefix_ + path; }

  // First, so it goes last: every member that holds a file in it is gone by then.
  test::TempDir temp_{"shoal-engine-test"};
  fs::path dir_{temp_.path()}, src_;
  ObjectUri uri_;
  std::string prefix_;
  std::unique_ptr<UringReactor> loop_;
  std::unique_ptr<IndexFile> index_;
  std::string image_;
  std::unique_ptr<CountingStore> owned_store_;
  CountingStore* store_ = nullptr;
  std::unique_ptr<MemoryCache> cache_;
  Metrics metrics_;
  std::mutex log_mu_;  // guards log_ and worker_stores_, which workers' threads append to
  std::vector<std::string> log_;
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<BufferPool> pool_;
  std::vector<CountingStore*> worker_stores_;  // owned by workers_
  std::unique_ptr<EngineWorkers> workers_;
  BlockDevice* device_ = nullptr;  // engine_ or workers_
};

// ---- correctness -------------------------------------------------------------------------

class EngineReadTest : public EngineTest, public ::testing::WithParamInterface<Config> {};

TEST_P(EngineReadTest, RandomReadsMatchTheImage) {
  const Config& c = GetParam();
  make_tree();
  ASSERT_NO_FATAL_FAILURE(build_index());
  open_store();
  EngineOptions options;
  options.whole_object_max = c.whole_object_max;
  options.chunk_size = c.chunk_size;
  options.prefetch = c.prefetch;
  options.max_gets_in_flight = c.max_in_flight;
  options.max_gets_per_second = c.per_second;
  if (c.workers > 1) {
    ASSERT_NO_FATAL_FAILURE(start_workers(c.budget, options, c.workers));
    ASSERT_EQ(workers_->count(), c.workers) << "the budget is meant to hold every worker";
  } else {
    ASSERT_NO_FATAL_FAILURE(start_engine(c.budget, options));
  }
  const uint64_t size = device_->size_bytes();
  ASSERT_EQ(size, image_.size());
  const uint64_t metadata_end = uint64_t{index_->summary().metadata_blocks} * 4096;

  expect_matches_image(0, size);  // the whole device in one request
  expect_matches_image(metadata_end - 1000, 9000);  // metadata into the first file
  expect_matches_image(size - 1, 1);
  const index::Extent& last = index_->extents().back();
  expect_matches_image(uint64_t{last.first_block} * 4096, size - uint64_t{last.first_block} * 4096);

  std::mt19937_64 rng(c.budget ^ c.chunk_size);
  for (int round = 0; round < 40; ++round) {
    // A batch of concurrent reads, some split over several iovecs, to completion.
    std::vector<std::unique_ptr<Read>> batch;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (int i = 0; i < 8; ++i) {
      uint64_t length = 1 + rng() % (rng() % 4 == 0 ? 600 * kKiB : 20 * kKiB);
      uint64_t offset = rng() % (size - length + 1);
      if (rng() % 3 == 0) offset -= offset % 4096;  // block-aligned, like a kernel read
      ranges.emplace_back(offset, length);
      batch.push_back(start_read(offset, length, static_cast<int>(rng() % 4)));  // 0: lent
    }
    wait_for([&] {
      return std::all_of(batch.begin(), batch.end(), [](auto& r) { return r->status.has_value(); });
    });
    for (size_t i = 0; i < batch.size(); ++i) {
      auto [offset, length] = ranges[i];
      ASSERT_TRUE(batch[i]->status.has_value()) << "read " << length << " at " << offset;
      ASSERT_TRUE(batch[i]->status->ok()) << batch[i]->status->error().describe();
      ASSERT_TRUE(batch[i]->data == image_.substr(offset, length))
          << "bytes differ: read " << length << " at " << offset;
    }
    if (workers_ != nullptr) {
      ASSERT_LE(pool_->stats().held_bytes, c.budget);  // the caches live on other threads
    } else {
      CacheStats s = cache_->stats();
      ASSERT_LE(s.bytes + s.inflight_bytes, cache_->budget());
    }
  }

  // Past the end: refused, never inline, and the engine keeps serving.
  Status past = read(size - 4096, 8192);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_FALSE(read(size, 1).ok());
  EXPECT_TRUE(read(size, 0).ok());
  expect_matches_image(metadata_end, 4096);
  EXPECT_EQ(counter(metrics_, "shoal_engine_request_errors_total"), 2u);
  EXPECT_EQ(counter(metrics_, "shoal_engine_get_errors_total"), 0u);
  if (c.prefetch == PrefetchMode::kNone) {
    EXPECT_EQ(counter(metrics_, "shoal_engine_prefetch_used_total") +
                  counter(metrics_, "shoal_engine_prefetch_wasted_total"),
              0u);
  }
  run_until_idle();
}

INSTANTIATE_TEST_SUITE_P(
    Configs, EngineReadTest,
    ::testing::Values(
        Config{"LargeCacheCrossFile", 64 * kMiB, 4 * kMiB, 1 * kMiB, PrefetchMode::kCrossFile, 128, 0},
        Config{"LargeCacheDirect", 64 * kMiB, 4 * kMiB, 1 * kMiB, PrefetchMode::kNone, 128, 0},
        Config{"TinyCacheCrossFile", 256 * kKiB, 64 * kKiB, 64 * kKiB, PrefetchMode::kCrossFile, 128, 0},
        Config{"TinyCacheDirect", 256 * kKiB, 64 * kKiB, 64 * kKiB, PrefetchMode::kNone, 128, 0},
        Config{"ChunkedTwoGetsRateCapped", 1 * kMiB, 128 * kKiB, 64 * kKiB, PrefetchMode::kCrossFile, 2, 5000},
        Config{"TwoWorkersCrossFile", 64 * kMiB, 4 * kMiB, 1 * kMiB, PrefetchMode::kCrossFile, 128, 0, 2},
        Config{"TwoWorkersDirect", 64 * kMiB, 4 * kMiB, 1 * kMiB, PrefetchMode::kNone, 128, 0, 2},
        Config{"FourWorkersSmallCacheCrossFile", 4 * kMiB, 64 * kKiB, 64 * kKiB, PrefetchMode::kCrossFile, 128, 0, 4},
        Config{"ThreeWorkersChunkedRateCapped", 3 * kMiB, 128 * kKiB, 64 * kKiB, PrefetchMode::kCrossFile, 6, 5000, 3}),
    [](const ::testing::TestParamInfo<Config>& p) { return std::string(p.param.name); });

// ---- shared GETs -------------------------------------------------------------------------

TEST_F(EngineTest, ConcurrentReadsOfOneObjectShareOneGet) {
  ASSERT_NO_FATAL_FAILURE(start_direct_engine_on_the_tree());
  const std::string path = "d1/f5.bin";
  uint64_t base = offset_of(path);
  uint64_t size = size_of(path);
  ASSERT_GT(size, 3 * 4096u);
  std::vector<std::unique_ptr<Read>> reads;
  for (int i = 0; i < 16; ++i) reads.push_back(start_read(base + (i % 3) * 4096, 4096));
  loop_->run_until([&] {
    return std::all_of(reads.begin(), reads.end(), [](auto& r) { return r->status.has_value(); });
  });
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(reads[i]->status && reads[i]->status->ok());
    EXPECT_TRUE(reads[i]->data == image_.substr(base + (i % 3) * 4096, 4096));
  }
  EXPECT_EQ(store_->gets(), 1u);
  EXPECT_EQ(store_->gets_of(key_of(path)), 1u);
  EXPECT_EQ(store_->pinned_gets, 1u) << "file:// honours If-Match: the GET must carry it";
  // Cached now: more reads of it issue no GET.
  expect_matches_image(base, size);
  EXPECT_EQ(store_->gets(), 1u);
}

// ---- lent reads ---------------------------------------------------------------------------

TEST_F(EngineTest, LentReadsPointIntoTheCacheAndPinOnlyWhatArrivesLast) {
  ASSERT_NO_FATAL_FAILURE(start_direct_engine_on_the_tree());
  // Two small files that are neighbours on the device.
  std::string a, b;
  for (const index::Extent& e : index_->extents()) {
    std::string path(index_->key(index_->objects()[e.object]));
    uint64_t size = index_->objects()[e.object].size;
    if (!a.empty() && size > 0 && size < 200 * kKiB &&
        e.first_block == extent_of(a).first_block + (size_of(a) + 4095) / 4096) {
      b = path;
      break;
    }
    a = size > 0 && size < 200 * kKiB && size % 4096 != 0 ? path : "";
  }
  ASSERT_FALSE(b.empty()) << "no two neighbouring small files in the test tree";
  auto lend = [&](uint64_t offset, uint64_t length) {
    std::optional<Result<LentBytes>> out;
    engine_->lend(offset, length, [&](Result<LentBytes> lent) { out = std::move(lent); });
    EXPECT_FALSE(out.has_value()) << "done ran inline";
    loop_->run_until([&] { return out.has_value(); });
    return std::move(*out);
  };
  auto gather = [](const LentBytes& lent) {
    std::string got;
    for (const iovec& v : lent.iov) got.append(static_cast<const char*>(v.iov_base), v.iov_len);
    return got;
  };
  auto cache_pages_of = [&](const std::string& path) {
    CacheBuffer buffer = cache_->lookup(CacheKey{extent_of(path).object, 0});
    EXPECT_NE(buffer, nullptr) << path << " is not cached";
    return buffer == nullptr ? std::vector<iovec>{} : buffer->iovecs();
  };
  auto inside = [](const void* p, const std::vector<iovec>& runs) {
    for (const iovec& r : runs) {
      auto base = static_cast<const char*>(r.iov_base);
      if (p >= base && p < base + r.iov_len) return true;
    }
    return false;
  };

  // A miss: the fetched buffer itself is lent, nothing copied.
  Result<LentBytes> first = lend(offset_of(a), size_of(a));
  ASSERT_TRUE(first.ok()) << first.error().describe();
  EXPECT_TRUE(gather(*first) == image_.substr(offset_of(a), size_of(a)));
  EXPECT_TRUE(inside(first->iov[0].iov_base, cache_pages_of(a)));
  first = Error(ErrorKind::kInternal, "dropped");

  // A hit spanning the file's tail zeros and the metadata-free device: cache pages again.
  uint64_t tail = (size_of(a) + 4095) / 4096 * 4096;
  Result<LentBytes> hit = lend(offset_of(a) + 100, tail - 100);
  ASSERT_TRUE(hit.ok()) << hit.error().describe();
  EXPECT_TRUE(gather(*hit) == image_.substr(offset_of(a) + 100, tail - 100));
  EXPECT_TRUE(inside(hit->iov[0].iov_base, cache_pages_of(a)));
  hit = Error(ErrorKind::kInternal, "dropped");

  // a cached, b not: the read waits for b, so it holds a copy of a's bytes, not a's pages, and
  // lends b's pages, which arrived last.
  uint64_t both = offset_of(b) + size_of(b) - offset_of(a);
  Result<LentBytes> mixed = lend(offset_of(a), both);
  ASSERT_TRUE(mixed.ok()) << mixed.error().describe();
  EXPECT_TRUE(gather(*mixed) == image_.substr(offset_of(a), both));
  EXPECT_FALSE(inside(mixed->iov.front().iov_base, cache_pages_of(a)));
  EXPECT_TRUE(inside(mixed->iov.back().iov_base, cache_pages_of(b)));
  EXPECT_EQ(store_->gets(), 2u);

  // The metadata blocks come straight from the index mapping.
  Result<LentBytes> meta = lend(0, 4096);
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->iov.size(), 1u);
  EXPECT_EQ(meta->iov[0].iov_base, static_cast<const void*>(index_->metadata().data()));
  EXPECT_TRUE(meta->holds.empty());

  // Past the end: refused like readv.
  Result<LentBytes> past = lend(engine_->size_bytes() - 4096, 8192);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().kind, ErrorKind::kInvalidArgument);
}

// ---- changed objects ---------------------------------------------------------------------

class EngineChangedTest : public EngineTest, public ::testing::WithParamInterface<bool> {};

TEST_P(EngineChangedTest, OverwrittenFileFailsItsReadsOnlyAndIsLoggedOnce) {
  make_tree();
  ASSERT_NO_FATAL_FAILURE(build_index());
  open_store(/*hide_if_match=*/GetParam());
  EngineOptions options;
  options.prefetch = PrefetchMode::kNone;
  ASSERT_NO_FATAL_FAILURE(start_engine(64 * kMiB, options));
  const std::string victim = "d2/f6.bin";
  const std::string deleted = "d3/f7.bin";
  uint64_t size = size_of(victim);
  // Same size, other bytes, another mtime: only the ETag tells.
  write_file(src_ / victim, random_bytes(size, 999));
  struct timespec times[2] = {{0, UTIME_OMIT}, {1000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (src_ / victim).c_str(), times, 0), 0);
  fs::remove(src_ / deleted);

  for (int attempt = 0; attempt < 3; ++attempt) {
    Status s = read(offset_of(victim), 4096);
    ASSERT_FALSE(s.ok()) << "bytes of another version were served";
    EXPECT_EQ(s.error().kind, ErrorKind::kPreconditionFailed);
    EXPECT_NE(s.error().message.find(key_of(victim)), std::string::npos) << s.error().message;
  }
  EXPECT_EQ(store_->gets_of(key_of(victim)), 1u) << "a changed object is remembered";
  Status gone = read(offset_of(deleted), 100);
  ASSERT_FALSE(gone.ok());
  // A read spanning a good file and the changed one fails as a whole.
  EXPECT_FALSE(read(offset_of(victim) - 4096, 8192).ok());
  // Every other file still reads correctly.
  for (const index::Extent& e : index_->extents()) {
    std::string key(index_->key(index_->objects()[e.object]));
    if (key == victim || key == deleted) continue;
    ASSERT_NO_FATAL_FAILURE(expect_matches_image(uint64_t{e.first_block} * 4096,
                                                 index_->objects()[e.object].size));
  }
  if (GetParam()) {
    EXPECT_EQ(store_->pinned_gets, 0u);
  }
  ASSERT_EQ(log_.size(), 2u);  // once per object, however often it was read
  EXPECT_NE(log_[0].find(key_of(victim)), std::string::npos) << log_[0];
  EXPECT_NE(log_[1].find(key_of(deleted)), std::string::npos) << log_[1];
  EXPECT_EQ(counter(metrics_, "shoal_engine_changed_objects_total"), 2u);
}

INSTANTIATE_TEST_SUITE_P(IfMatch, EngineChangedTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "ReplyCheckedWithoutIfMatch" : "WithIfMatch";
                         });

// ---- budget ------------------------------------------------------------------------------

TEST_F(EngineTest, CacheNeverExceedsItsBudgetDuringALargeSequentialRead) {
  make_tree();
  ASSERT_NO_FATAL_FAILURE(build_index());
  open_store();
  EngineOptions options;
  options.whole_object_max = 64 * kKiB;
  options.chunk_size = 64 * kKiB;
  options.prefetch_window_initial = 64;
  ASSERT_NO_FATAL_FAILURE(start_engine(256 * kKiB, options));
  uint64_t peak = 0;
  bool over = false;
  auto check = [&] {
    CacheStats s = cache_->stats();
    peak = std::max(peak, s.bytes + s.inflight_bytes);
    over = over || s.bytes + s.inflight_bytes > cache_->budget();
  };
  store_->on_get = check;
  // 16 readers at a time, 128 KiB each, walking the whole device front to back.
  const uint64_t size = engine_->size_bytes();
  const uint64_t step = 128 * kKiB;
  for (uint64_t base = 0; base < size; base += 16 * step) {
    std::vector<std::unique_ptr<Read>> batch;
    std::vector<uint64_t> offsets;
    for (uint64_t off = base; off < std::min(size, base + 16 * step); off += step) {
      offsets.push_back(off);
      batch.push_back(start_read(off, std::min(step, size - off)));
    }
    loop_->run_until([&] {
      check();
      return std::all_of(batch.begin(), batch.end(), [](auto& r) { return r->status.has_value(); });
    });
    for (size_t i = 0; i < batch.size(); ++i) {
      ASSERT_TRUE(batch[i]->status.has_value());
      ASSERT_TRUE(batch[i]->status->ok()) << batch[i]->status->error().describe();
      ASSERT_TRUE(batch[i]->data == image_.substr(offsets[i], batch[i]->data.size()));
    }
  }
  EXPECT_FALSE(over) << "peak " << peak << " > budget " << cache_->budget();
  EXPECT_GT(peak, cache_->budget() / 2) << "the test should have pressed on the budget";
  EXPECT_GT(cache_->stats().evictions, 0u);
  EXPECT_GT(cache_->stats().reserve_failures, 0u) << "demand should have waited for budget";
  run_until_idle();
}

TEST_F(EngineTest, RateCapHoldsGetsBackButEveryReadCompletes) {
  make_tree();
  ASSERT_NO_FATAL_FAILURE(build_index());
  open_store();
  EngineOptions options;
  options.prefetch = PrefetchMode::kNone;
  options.max_gets_per_second = 10;  // a burst of 10, then one every 100 ms
  ASSERT_NO_FATAL_FAILURE(start_engine(64 * kMiB, options));
  std::vector<std::unique_ptr<Read>> reads;
  std::vector<uint64_t> offsets;
  for (const index::Extent& e : index_->extents()) {
    if (reads.size() == 16) break;
    offsets.push_back(uint64_t{e.first_block} * 4096);
    reads.push_back(start_read(offsets.back(), 4096));
  }
  EXPECT_LE(store_->gets(), 11u) << "the cap lets a one-second burst through, no more";
  loop_->run_until([&] {
    return std::all_of(reads.begin(), reads.end(), [](auto& r) { return r->status.has_value(); });
  });
  for (size_t i = 0; i < reads.size(); ++i) {
    ASSERT_TRUE(reads[i]->status && reads[i]->status->ok());
    EXPECT_TRUE(reads[i]->data == image_.substr(offsets[i], 4096));
  }
  EXPECT_EQ(store_->gets(), 16u);
}

TEST_F(EngineTest, OptionsAreValidatedWithClearErrors) {
  make_tree();
  ASSERT_NO_FATAL_FAILURE(build_index());
  open_store();
  auto too_small = make_engine(15 * kMiB, EngineOptions{});
  ASSERT_FALSE(too_small.ok());
  EXPECT_EQ(too_small.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(too_small.error().message.find("cache.memory"), std::string::npos)
      << too_small.error().message;
  EXPECT_TRUE(make_engine(16 * kMiB, EngineOptions{}).ok());

  EngineOptions odd_chunk;
  odd_chunk.chunk_size = 1000;
  auto bad_chunk = make_engine(64 * kMiB, odd_chunk);
  ASSERT_FALSE(bad_chunk.ok());
  EXPECT_NE(bad_chunk.error().message.find("fetch.chunk_size"), std::string::npos);

  EngineOptions window;
  window.prefetch_window_initial = 100;
  window.prefetch_window_max = 64;
  EXPECT_FALSE(make_engine(64 * kMiB, window).ok());

  EngineOptions no_gets;
  no_gets.max_gets_in_flight = 0;
  EXPECT_FALSE(make_engine(64 * kMiB, no_gets).ok());

  EXPECT_TRUE(parse_prefetch_mode("none").ok());
  EXPECT_FALSE(parse_prefetch_mode("sometimes").ok());
}

// ---- prefetch ----------------------------------------------------------------------------

TEST_F(EngineTest, ReadingInLayoutOrderHitsPrefetchedObjects) {
  make_tree();
  ASSERT_NO_FATAL_FAILURE(build_index());
  open_store();
  ASSERT_NO_FATAL_FAILURE(start_engine(64 * kMiB, EngineOptions{}));
  // Every file once, whole, in layout order, each read waiting for the one before.
  for (const index::Extent& e : index_->extents()) {
    Status r = read(uint64_t{e.first_block} * 4096, index_->objects()[e.object].size);
    ASSERT_TRUE(r.ok()) << r.error().describe();
  }
  CacheStats s = cache_->stats();
  size_t objects = index_->extents().size();
  EXPECT_GT(s.prefetch_used + engine_->prefetch_window(), 0u);
  EXPECT_GE(s.prefetch_used, objects / 2) << "most files should have been prefetched";
  EXPECT_LT(counter(metrics_, "shoal_engine_cache_misses_total"), objects / 2);
  EXPECT_EQ(store_->gets(), objects) << "one GET per object, none repeated";
  EXPECT_GT(engine_->prefetch_window(), 4u) << "the window grows while prefetch is used";
  EXPECT_EQ(s.prefetch_wasted, 0u);
}

// An epoch over many small files with a cache half its size, as a training job reads it.
// What prefetch costs is counted in GETs: one per file is what direct mode would pay.
class EpochTest : public EngineTest {
 protected:
  static constexpr int kFiles = 600;
  static constexpr uint64_t kFileSize = 16 * kKiB;

  void SetUp() override {
    EngineTest::SetUp();
    if (HasFatalFailure()) return;
    for (int i = 0; i < kFiles; ++i)
      add_file("e" + std::to_string(i / 100) + "/s" + std::to_string(10000 + i) + ".bin",
               kFileSize - (i % 7) * 1000);
    ASSERT_NO_FATAL_FAILURE(build_index());
    open_store();
    EngineOptions options;
    options.whole_object_max = 64 * kKiB;
    options.chunk_size = 64 * kKiB;
    uint64_t epoch = 0;
    for (const index::Extent& e : index_->extents()) epoch += index_->objects()[e.object].size;
    ASSERT_NO_FATAL_FAILURE(start_engine(epoch / 2, options));
  }

  // Reads each file whole, one after the other, in `order` (positions in the layout).
  void read_files(const std::vector<size_t>& order) {
    for (size_t position : order) {
      const index::Extent& e = index_->extents()[position];
      uint64_t offset = uint64_t{e.first_block} * 4096;
      ASSERT_NO_FATAL_FAILURE(expect_matches_image(offset, index_->objects()[e.object].size));
    }
  }
};

TEST_F(EpochTest, RandomOrderShrinksCrossFilePrefetchToAlmostNoExtraGets) {
  std::vector<size_t> order(index_->extents().size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(42));
  ASSERT_NO_FATAL_FAILURE(read_files(order));
  run_until_idle();
  std::printf("random order: %zu GETs for %zu files\n", store_->gets(), order.size());
  EXPECT_LE(store_->gets(), order.size() * 11 / 10)
      << "GETs for " << order.size() << " files read once in random order";
  EXPECT_EQ(engine_->prefetch_window(), 0u) << "cross-file prefetch closes for a random reader";
  // A second epoch in a new random order: the window stays shut.
  size_t before = store_->gets();
  std::shuffle(order.begin(), order.end(), std::mt19937_64(43));
  ASSERT_NO_FATAL_FAILURE(read_files(order));
  run_until_idle();
  std::printf("second epoch: %zu GETs\n", store_->gets() - before);
  EXPECT_LE(store_->gets() - before, order.size() * 11 / 10) << "second epoch";
}

TEST_F(EpochTest, LayoutOrderOpensTheWindowToItsMaximumWithoutExtraGets) {
  std::vector<size_t> order(index_->extents().size());
  std::iota(order.begin(), order.end(), 0);
  ASSERT_NO_FATAL_FAILURE(read_files(order));
  run_until_idle();
  std::printf("layout order: %zu GETs for %zu files, %zu misses\n", store_->gets(), order.size(),
              static_cast<size_t>(counter(metrics_, "shoal_engine_cache_misses_total")));
  EXPECT_EQ(engine_->prefetch_window(), EngineOptions{}.prefetch_window_max);
  EXPECT_EQ(store_->gets(), order.size()) << "one GET per file, none wasted";
  EXPECT_LE(counter(metrics_, "shoal_engine_cache_misses_total"), 8u)
      << "prefetch should run ahead of the reader";
  EXPECT_EQ(cache_->stats().prefetch_wasted, 0u);
}

TEST_F(EpochTest, AReaderThatTurnsSequentialReopensTheWindow) {
  std::vector<size_t> order(index_->extents().size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<size_t> random_half(order.begin(), order.begin() + kFiles / 2);
  std::shuffle(random_half.begin(), random_half.end(), std::mt19937_64(7));
  ASSERT_NO_FATAL_FAILURE(read_files(random_half));
  EXPECT_EQ(engine_->prefetch_window(), 0u);
  std::vector<size_t> sequential_half(order.begin() + kFiles / 2, order.end());
  size_t misses_before = counter(metrics_, "shoal_engine_cache_misses_total");
  ASSERT_NO_FATAL_FAILURE(read_files(sequential_half));
  run_until_idle();
  EXPECT_EQ(engine_->prefetch_window(), EngineOptions{}.prefetch_window_max);
  EXPECT_LE(counter(metrics_, "shoal_engine_cache_misses_total") - misses_before, 16u);
  EXPECT_LE(store_->gets(), order.size() * 11 / 10);
}

// A hint list is the job's own order: its window runs past the cross-file maximum (64) as long
// as what waits unread fits the cache, or a 10 ms store would cap the job near 6,400 files/s.
TEST_F(EpochTest, HintsRunFurtherAheadThanTheCrossFileWindow) {
  engine_.reset();
  EngineOptions options;
  options.prefetch = PrefetchMode::kNone;
  options.max_gets_in_flight = 512;
  std::vector<size_t> order(index_->extents().size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(5));
  for (size_t position : order)
    options.hints.emplace_back(index_->key(index_->objects()[index_->extents()[position].object]));
  ASSERT_NO_FATAL_FAILURE(start_engine(256 * kMiB, options));
  // The window doubles each time as many hinted files were used as it is wide: 4 … 64 after
  // 124 reads, 128 after 200.
  std::vector<size_t> first(order.begin(), order.begin() + 200);
  ASSERT_NO_FATAL_FAILURE(read_files(first));
  run_until_idle();
  std::printf("after 200 hinted reads: %zu GETs\n", store_->gets());
  EXPECT_GT(store_->gets(), 200u + EngineOptions{}.prefetch_window_max);
  EXPECT_EQ(counter(metrics_, "shoal_engine_prefetch_wasted_total"), 0u);
  EXPECT_LE(counter(metrics_, "shoal_engine_cache_misses_total"), 8u);
  // A cache too small for that holds the window to what fits: nothing is evicted unread.
  engine_.reset();
  store_->get_keys.clear();
  ASSERT_NO_FATAL_FAILURE(start_engine(16 * kMiB, options));
  ASSERT_NO_FATAL_FAILURE(read_files(order));
  run_until_idle();
  EXPECT_LE(store_->gets(), order.size() * 11 / 10);
  EXPECT_EQ(counter(metrics_, "shoal_engine_prefetch_wasted_total"), 0u);
}

TEST_F(EngineTest, DirectModeIssuesOnlyTheGetsReadersAskFor) {
  ASSERT_NO_FATAL_FAILURE(start_direct_engine_on_the_tree());
  const std::vector<std::string> paths = {"d0/f4.bin", "d2/f10.bin", "a.txt"};
  for (const std::string& p : paths) expect_matches_image(offset_of(p), size_of(p));
  run_until_idle();
  EXPECT_EQ(store_->gets(), paths.size());
  for (const std::string& p : paths) EXPECT_EQ(store_->gets_of(key_of(p)), 1u);
  EXPECT_EQ(cache_->stats().prefetch_used + cache_->stats().prefetch_wasted, 0u);
}

TEST_F(EngineTest, SequentialReadOfALargeObjectReadsAhead) {
  make_tree();
  ASSERT_NO_FATAL_FAILURE(build_index());
  open_store();
  EngineOptions options;
  options.whole_object_max = 64 * kKiB;
  options.chunk_size = 64 * kKiB;
  options.readahead_chunks = 4;
  ASSERT_NO_FATAL_FAILURE(start_engine(4 * kMiB, options));
  const std::string path = "big/large2.bin";
  uint64_t base = offset_of(path);
  uint64_t size = size_of(path);
  for (uint64_t off = 0; off < size; off += 64 * kKiB)
    ASSERT_NO_FATAL_FAILURE(expect_matches_image(base + off, std::min(64 * kKiB, size - off)));
  uint64_t chunks = (size + 64 * kKiB - 1) / (64 * kKiB);
  EXPECT_EQ(store_->gets_of(key_of(path)), chunks) << "each chunk fetched once";
  EXPECT_GE(cache_->stats().prefetch_used + counter(metrics_, "shoal_engine_cache_hits_total"),
            chunks - 2);
  EXPECT_LE(counter(metrics_, "shoal_engine_cache_misses_total"), 2u);
}

TEST_F(EngineTest, HintsArePrefetchedInHintOrder) {
  make_tree();
  ASSERT_NO_FATAL_FAILURE(build_index());
  open_store();
  EngineOptions options;
  options.prefetch = PrefetchMode::kNone;  // only the hints may cause GETs
  options.max_gets_in_flight = 1;          // one at a time: the GET order is the queue order
  options.prefetch_window_initial = 8;
  const std::vector<std::string> hints = {"d3/f15.bin", "/a.txt", "d0/f8.bin", "no/such/file"};
  options.hints = hints;
  ASSERT_NO_FATAL_FAILURE(start_engine(64 * kMiB, options));
  run_until_idle();
  std::vector<std::string> expected = {key_of("d3/f15.bin"), key_of("a.txt"), key_of("d0/f8.bin")};
  EXPECT_EQ(store_->get_keys, expected);
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_NE(log_[0].find("no/such/file"), std::string::npos) << log_[0];
  for (const char* p : {"d3/f15.bin", "a.txt", "d0/f8.bin"}) expect_matches_image(offset_of(p), size_of(p));
  EXPECT_EQ(store_->gets(), 3u) << "hinted files are served from the cache";
  EXPECT_EQ(cache_->stats().prefetch_used, 3u);

  HintReport report = engine_->set_hints({"d1/f1.bin", "nope"});
  EXPECT_EQ(report.matched, 1u);
  ASSERT_EQ(report.unknown.size(), 1u);
  run_until_idle();
  EXPECT_EQ(store_->get_keys.back(), key_of("d1/f1.bin"));
}

TEST_F(EngineTest, WarmAllFillsTheCacheInLayoutOrderWithoutEvicting) {
  make_tree();
  ASSERT_NO_FATAL_FAILURE(build_index());
  open_store();
  EngineOptions options;
  options.whole_object_max = 64 * kKiB;
  options.chunk_size = 64 * kKiB;
  options.warm_all = true;
  ASSERT_NO_FATAL_FAILURE(start_engine(1 * kMiB, options));
  run_until_idle();
  CacheStats s = cache_->stats();
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_LE(s.bytes, cache_->budget());
  EXPECT_GT(s.bytes, cache_->budget() - 64 * kKiB) << "warm-all stops only when full";
  // Layout order: the first object in the layout is in, the last one is not.
  const index::Extent& first = index_->extents().front();
  EXPECT_TRUE(cache_->contains(CacheKey{first.object, 0}));
  EXPECT_EQ(store_->get_keys.front(), key_of(std::string(index_->key(index_->objects()[first.object]))));
}

TEST_F(EngineTest, WarmAllWithRoomForEverythingServesTheWholeDeviceWithoutGets) {
  make_tree();
  ASSERT_NO_FATAL_FAILURE(build_index());
  open_store();
  EngineOptions options;
  options.warm_all = true;
  options.prefetch = PrefetchMode::kNone;
  ASSERT_NO_FATAL_FAILURE(start_engine(64 * kMiB, options));
  run_until_idle();
  size_t gets = store_->gets();
  EXPECT_EQ(gets, index_->extents().size());
  expect_matches_image(0, engine_->size_bytes());
  EXPECT_EQ(store_->gets(), gets);
}

TEST_F(EngineTest, MetricsRenderTheEngineSeries) {
  make_tree();
  ASSERT_NO_FATAL_FAILURE(build_index());
  open_store();
  ASSERT_NO_FATAL_FAILURE(start_engine(64 * kMiB, EngineOptions{}));
  expect_matches_image(0, 256 * kKiB);
  run_until_idle();
  std::string text = metrics_.render_prometheus();
  for (const char* name :
       {"shoal_engine_requests_total 1", "shoal_engine_bytes_served_total 262144",
        "# TYPE shoal_engine_get_latency_seconds histogram", "shoal_engine_gets_in_flight 0",
        "# TYPE shoal_engine_cache_bytes gauge", "shoal_engine_prefetch_used_total",
        "shoal_engine_prefetch_wasted_total", "shoal_engine_cache_hits_total",
        "shoal_engine_cache_misses_total", "shoal_engine_get_bytes_total",
        "shoal_engine_request_errors_total 0"})
    EXPECT_NE(text.find(name), std::string::npos) << name << "\n" << text;
  EXPECT_EQ(metrics_.gauge("shoal_engine_cache_bytes", "").value(),
            static_cast<int64_t>(cache_->stats().bytes));
  EXPECT_EQ(counter(metrics_, "shoal_engine_gets_total"), store_->gets());
  // A stopped engine takes its share out of gauges other engines may share.
  engine_.reset();
  EXPECT_EQ(metrics_.gauge("shoal_engine_cache_bytes", "").value(), 0);
  EXPECT_EQ(metrics_.gauge("shoal_engine_prefetch_window", "").value(), 0);
  EXPECT_EQ(metrics_.gauge("shoal_engine_gets_in_flight", "").value(), 0);
  EXPECT_EQ(counter(metrics_, "shoal_engine_prefetch_used_total"), cache_->stats().prefetch_used);
}

// ---- several workers ----------------------------------------------------------------------

// Direct mode over the tree, 2 workers owning objects in runs of 4.
class WorkersTest : public EngineTest {
 protected:
  void start_direct_workers(int n, uint64_t budget = 64 * kMiB) {
    make_tree();
    ASSERT_NO_FATAL_FAILURE(build_index());
    EngineOptions options;
    options.prefetch = PrefetchMode::kNone;
    ASSERT_NO_FATAL_FAILURE(start_workers(budget, options, n));
  }
  // Two neighbouring files on the device owned by different workers.
  std::pair<const index::Extent*, const index::Extent*> neighbours_of_two_owners() {
    std::span<const index::Extent> extents = index_->extents();
    for (size_t i = 1; i < extents.size(); ++i) {
      const index::Extent& a = extents[i - 1];
      const index::Extent& b = extents[i];
      uint64_t a_blocks = (index_->objects()[a.object].size + 4095) / 4096;
      if (a_blocks > 0 && a.first_block + a_blocks == b.first_block &&
          index_->objects()[b.object].size > 0 &&
          workers_->owner_of(a.object) != workers_->owner_of(b.object))
        return {&a, &b};
    }
    return {nullptr, nullptr};
  }
};

TEST_F(WorkersTest, EachObjectIsFetchedOnceByItsOwnerWhileManyReadersReadEverything) {
  ASSERT_NO_FATAL_FAILURE(start_direct_workers(2));
  ASSERT_EQ(workers_->count(), 2);
  // Every file read by three readers at once, in 64 KiB requests, half of them lent.
  std::vector<std::unique_ptr<Read>> reads;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (int reader = 0; reader < 3; ++reader) {
    for (const index::Extent& e : index_->extents()) {
      uint64_t size = index_->objects()[e.object].size;
      for (uint64_t at = 0; at < size; at += 64 * kKiB) {
        uint64_t offset = uint64_t{e.first_block} * 4096 + at;
        uint64_t length = std::min<uint64_t>(64 * kKiB, size - at);
        ranges.emplace_back(offset, length);
        reads.push_back(start_read(offset, length, reader == 1 ? 0 : 2));
      }
    }
  }
  ASSERT_TRUE(eventually([&] {
    return std::all_of(reads.begin(), reads.end(), [](auto& r) { return r->status.has_value(); });
  }));
  for (size_t i = 0; i < reads.size(); ++i) {
    ASSERT_TRUE(reads[i]->status->ok()) << reads[i]->status->error().describe();
    ASSERT_TRUE(reads[i]->data == image_.substr(ranges[i].first, ranges[i].second))
        << "bytes differ: read " << ranges[i].second << " at " << ranges[i].first;
  }
  size_t with_data = 0;
  for (const index::Extent& e : index_->extents()) with_data += index_->objects()[e.object].size > 0;
  EXPECT_EQ(worker_gets(), with_data) << "one GET per object, whichever reader asked first";
  // Each worker's store saw only the keys of the objects it owns, and both did some.
  std::lock_guard lock(log_mu_);
  ASSERT_EQ(worker_stores_.size(), 2u);
  for (int w = 0; w < 2; ++w) {
    std::vector<std::string> keys = worker_stores_[static_cast<size_t>(w)]->keys();
    EXPECT_FALSE(keys.empty()) << "worker " << w << " fetched nothing";
    for (const std::string& key : keys) {
      auto it = std::find_if(index_->objects().begin(), index_->objects().end(),
                             [&](const index::ObjectRecord& r) { return key_of(std::string(index_->key(r))) == key; });
      ASSERT_NE(it, index_->objects().end()) << key;
      EXPECT_EQ(workers_->owner_of(static_cast<uint32_t>(it - index_->objects().begin())), w) << key;
    }
  }
}

TEST_F(WorkersTest, AReadAcrossTwoOwnersIsCutAndJoinedInOrder) {
  ASSERT_NO_FATAL_FAILURE(start_direct_workers(2));
  auto [a, b] = neighbours_of_two_owners();
  ASSERT_NE(a, nullptr) << "no neighbouring files of two owners in the test tree";
  uint64_t boundary = uint64_t{b->first_block} * 4096;
  for (int pieces : {1, 3, 0}) {  // readv in one and three iovecs, then lent
    auto r = start_read(boundary - 6000, 12000, pieces);
    ASSERT_TRUE(eventually([&] { return r->status.has_value(); }));
    ASSERT_TRUE(r->status->ok()) << r->status->error().describe();
    EXPECT_TRUE(r->data == image_.substr(boundary - 6000, 12000)) << pieces << " pieces";
  }
  // The whole device in one request: every worker's part, in order.
  auto whole = start_read(0, device_->size_bytes(), 0);
  ASSERT_TRUE(eventually([&] { return whole->status.has_value(); }));
  ASSERT_TRUE(whole->status->ok()) << whole->status->error().describe();
  EXPECT_TRUE(whole->data == image_);
  // A failing part fails the read, once, on the home loop.
  auto past = start_read(device_->size_bytes() - 100, 200);
  ASSERT_TRUE(eventually([&] { return past->status.has_value(); }));
  EXPECT_EQ(past->status->error().kind, ErrorKind::kInvalidArgument);
}

TEST_F(WorkersTest, HintsArePrefetchedOnceEachByTheirOwners) {
  make_tree();
  ASSERT_NO_FATAL_FAILURE(build_index());
  EngineOptions options;
  options.prefetch = PrefetchMode::kNone;
  options.prefetch_window_initial = 64;
  std::vector<std::string> hints;
  for (const index::Extent& e : index_->extents())
    if (index_->objects()[e.object].size > 0) hints.emplace_back(index_->key(index_->objects()[e.object]));
  hints.push_back("no/such/file");
  options.hints = hints;
  // Room for every hinted file in each worker's probation queue, so the window covers them all.
  ASSERT_NO_FATAL_FAILURE(start_workers(512 * kMiB, options, 2));
  ASSERT_TRUE(eventually([&] { return worker_gets() >= hints.size() - 1; }));
  {
    std::lock_guard lock(log_mu_);
    ASSERT_EQ(log_.size(), 1u) << "the unknown path is reported once, not by every worker";
    EXPECT_NE(log_[0].find("no/such/file"), std::string::npos) << log_[0];
  }
  // Everything hinted is cached where its reads go: reading it all costs no GET.
  auto whole = start_read(0, device_->size_bytes(), 0);
  ASSERT_TRUE(eventually([&] { return whole->status.has_value(); }));
  ASSERT_TRUE(whole->status->ok()) << whole->status->error().describe();
  EXPECT_TRUE(whole->data == image_);
  EXPECT_EQ(worker_gets(), hints.size() - 1);
  HintReport report = workers_->set_hints({hints[0], "nope"});
  EXPECT_EQ(report.matched, 1u);
  EXPECT_EQ(report.unknown, std::vector<std::string>{"nope"});
}

TEST_F(WorkersTest, WarmAllFillsEveryWorkersShareWithoutEvicting) {
  make_tree();
  ASSERT_NO_FATAL_FAILURE(build_index());
  EngineOptions options;
  options.warm_all = true;
  options.prefetch = PrefetchMode::kNone;
  ASSERT_NO_FATAL_FAILURE(start_workers(64 * kMiB, options, 2));
  size_t with_data = 0;
  for (const index::Extent& e : index_->extents()) with_data += index_->objects()[e.object].size > 0;
  ASSERT_TRUE(eventually([&] { return worker_gets() >= with_data; }));
  auto whole = start_read(0, device_->size_bytes());
  ASSERT_TRUE(eventually([&] { return whole->status.has_value(); }));
  ASSERT_TRUE(whole->status->ok());
  EXPECT_TRUE(whole->data == image_);
  EXPECT_EQ(worker_gets(), with_data) << "warm-all fetched each object once, on its owner";
  EXPECT_EQ(counter(metrics_, "shoal_engine_prefetch_wasted_total"), 0u);
}

TEST_F(WorkersTest, ABudgetTooSmallToSplitRunsFewerWorkers) {
  // 4 workers of 64 KiB-unit engines need 4 × 4 × 64 KiB; 512 KiB holds two.
  make_tree();
  ASSERT_NO_FATAL_FAILURE(build_index());
  EngineOptions options;
  options.whole_object_max = 64 * kKiB;
  options.chunk_size = 64 * kKiB;
  ASSERT_NO_FATAL_FAILURE(start_workers(512 * kKiB, options, 4));
  EXPECT_EQ(workers_->count(), 2);
  EXPECT_LE(workers_->cache_budget(), 512 * kKiB);
  expect_matches_image(0, device_->size_bytes());
}

TEST_F(WorkersTest, StoppingWithReadsInFlightDropsThemCleanly) {
  ASSERT_NO_FATAL_FAILURE(start_direct_workers(3, 48 * kMiB));
  std::vector<std::unique_ptr<Read>> reads;
  for (const index::Extent& e : index_->extents())
    reads.push_back(start_read(uint64_t{e.first_block} * 4096, 4096, 0));
  loop_->run_once(std::chrono::milliseconds(0));
  workers_.reset();  // joins the worker threads; their engines drop what is in flight
  device_ = nullptr;
  loop_->run_once(std::chrono::milliseconds(0));  // replies already posted home may still run
  for (auto& r : reads) {
    if (r->status) {
      EXPECT_TRUE(r->status->ok()) << r->status->error().describe();
    }
  }
}

// An epoch with several workers pays what one engine pays: random order closes every worker's
// window, layout order opens them without waste.
class WorkersEpochTest : public EpochTest {
 protected:
  void SetUp() override {
    EpochTest::SetUp();
    if (HasFatalFailure()) return;
    engine_.reset();
    EngineOptions options;
    options.whole_object_max = 64 * kKiB;
    options.chunk_size = 64 * kKiB;
    uint64_t epoch = 0;
    for (const index::Extent& e : index_->extents()) epoch += index_->objects()[e.object].size;
    ASSERT_NO_FATAL_FAILURE(start_workers(epoch / 2, options, 2, 64));
  }
  void read_files_concurrently(const std::vector<size_t>& order, size_t readers) {
    for (size_t at = 0; at < order.size(); at += readers) {
      std::vector<std::unique_ptr<Read>> batch;
      std::vector<uint64_t> offsets;
      for (size_t i = at; i < std::min(order.size(), at + readers); ++i) {
        const index::Extent& e = index_->extents()[order[i]];
        offsets.push_back(uint64_t{e.first_block} * 4096);
        batch.push_back(start_read(offsets.back(), index_->objects()[e.object].size));
      }
      ASSERT_TRUE(eventually([&] {
        return std::all_of(batch.begin(), batch.end(), [](auto& r) { return r->status.has_value(); });
      }));
      for (size_t i = 0; i < batch.size(); ++i) {
        ASSERT_TRUE(batch[i]->status->ok()) << batch[i]->status->error().describe();
        ASSERT_TRUE(batch[i]->data == image_.substr(offsets[i], batch[i]->data.size()));
      }
    }
  }
};

TEST_F(WorkersEpochTest, RandomOrderCostsAtMostATenthMoreGetsThanFiles) {
  std::vector<size_t> order(index_->extents().size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(42));
  ASSERT_NO_FATAL_FAILURE(read_files_concurrently(order, 4));
  std::printf("2 workers, random order: %zu GETs for %zu files\n", worker_gets(), order.size());
  EXPECT_LE(worker_gets(), order.size() * 11 / 10);
}

TEST_F(WorkersEpochTest, LayoutOrderWastesNoGet) {
  std::vector<size_t> order(index_->extents().size());
  std::iota(order.begin(), order.end(), 0);
  ASSERT_NO_FATAL_FAILURE(read_files_concurrently(order, 1));
  size_t misses = counter(metrics_, "shoal_engine_cache_misses_total");
  std::printf("2 workers, layout order: %zu GETs for %zu files, %zu misses\n", worker_gets(),
              order.size(), misses);
  EXPECT_EQ(worker_gets(), order.size()) << "one GET per file, none wasted";
  EXPECT_LE(misses, 32u) << "prefetch should run ahead of the reader in every worker's runs";
}

}  // namespace
}  // namespace shoal
