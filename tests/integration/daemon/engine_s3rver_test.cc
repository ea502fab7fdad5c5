// The engine against a real S3 server (s3rver): the index built and the image exported by the
// `shoal` CLI, then the device read through the Engine (libcurl on a UringReactor) and compared
// with the exported image byte for byte; then a changed object and a server outage.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>

#include "daemon/engine/engine.h"
#include "daemon/uring_reactor.h"
#include "index/index_file.h"
#include "store/blocking_store.h"
#include "store/open_store.h"
#include "store/uri.h"
#include "support/command.h"
#include "support/s3rver.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

const std::string kShoal = SHOAL_BINARY_DIR "/tools/shoal";
constexpr uint64_t kKiB = 1024;

constexpr auto run = test::run_command;

std::string random_bytes(size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string data(size, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  return data;
}

class EngineS3rverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kShoal)) << kShoal << " is missing: build the shoal target";
    auto server = S3rver::start({"vol"});
    ASSERT_TRUE(server.ok()) << server.error().describe();
    server_ = std::move(server).value();
    ASSERT_FALSE(temp_.path().empty()) << "mkdtemp: " << std::strerror(errno);
    auto uri = parse_object_uri("s3://vol/data");
    ASSERT_TRUE(uri.ok());
    uri_ = *uri;
    auto blocking = BlockingStore::open(uri_, server_->config());
    ASSERT_TRUE(blocking.ok()) << blocking.error().describe();
    blocking_ = std::make_unique<BlockingStore>(std::move(blocking).value());
    auto loop = UringReactor::create();
    ASSERT_TRUE(loop.ok()) << loop.error().describe();
    loop_ = std::move(loop).value();
  }
  void TearDown() override {
    engine_.reset();
    store_.reset();
    loop_.reset();
    index_.reset();
    blocking_.reset();
    server_.reset();
  }

  // Test data lives under a prefix: s3rver lists no common prefixes for an empty one.
  void put_objects() {
    std::mt19937_64 rng(11);
    for (int i = 0; i < 60; ++i) {
      size_t size = 1 + rng() % (200 * kKiB);
      put("data/d" + std::to_string(i % 5) + "/f" + std::to_string(i) + ".bin", size);
    }
    put("data/big/large.bin", 1500 * kKiB + 17);
  }
  void put(const std::string& key, size_t size) {
    auto r = blocking_->put(key, Body::from_string(random_bytes(size, std::hash<std::string>{}(key))));
    ASSERT_TRUE(r.ok()) << key << ": " << r.error().describe();
  }

  std::string cli(const std::string& args) {
    return "AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER " + kShoal + " " + args +
           " --endpoint " + server_->endpoint() + " --region us-east-1";
  }

  void build_and_export() {
    std::string index_path = (dir_ / "vol.shix").string();
    std::string image_path = (dir_ / "vol.img").string();
    test::CommandResult built = run(cli("index build s3://vol/data -o " + index_path));
    ASSERT_EQ(built.exit_code, 0) << built.output;
    test::CommandResult exported = run(cli("index export " + index_path + " " + image_path));
    ASSERT_EQ(exported.exit_code, 0) << exported.output;
    auto file = index::IndexFile::open(index_path);
    ASSERT_TRUE(file.ok()) << file.error().describe();
    index_ = std::make_unique<index::IndexFile>(std::move(file).value());
    std::ifstream f(image_path, std::ios::binary);
    image_.assign(std::istreambuf_iterator<char>(f), {});
    ASSERT_EQ(image_.size(), index_->device_bytes());
  }

  void start_engine(uint64_t budget, EngineOptions options) {
    auto store = open_store(uri_, server_->config(), *loop_);
    ASSERT_TRUE(store.ok()) << store.error().describe();
    store_ = std::move(store).value();
    auto cache = MemoryCache::create(budget);
    ASSERT_TRUE(cache.ok());
    cache_ = std::move(cache).value();
    options.log = [this](std::string_view line) { log_.emplace_back(line); };
    auto engine = Engine::create(*index_, *store_, *cache_, *loop_, options, metrics_);
    ASSERT_TRUE(engine.ok()) << engine.error().describe();
    engine_ = std::move(engine).value();
  }

  Status read(uint64_t offset, uint64_t length, std::string* out = nullptr) {
    std::string data(length, '\x5a');
    iovec iov{data.data(), length};
    std::optional<Status> status;
    engine_->readv(offset, std::span(&iov, 1), [&](Status s) { status = std::move(s); });
    loop_->run_until([&] { return status.has_value(); });
    if (!status) return Error(ErrorKind::kInternal, "the read never completed");
    if (out != nullptr) *out = std::move(data);
    return *status;
  }

  void expect_matches_image(uint64_t offset, uint64_t length) {
    std::string got;
    Status s = read(offset, length, &got);
    ASSERT_TRUE(s.ok()) << "read " << length << " at " << offset << ": " << s.error().describe();
    ASSERT_TRUE(got == image_.substr(offset, length)) << "bytes differ: " << length << " at " << offset;
  }

  const index::Extent* extent_of(const std::string& path) {
    for (const index::Extent& e : index_->extents())
      if (index_->key(index_->objects()[e.object]) == path) return &e;
    return nullptr;
  }

  // First, so it goes last: every member that holds a file in it is gone by then.
  test::TempDir temp_{"shoal-engine-s3"};
  fs::path dir_{temp_.path()};
  std::unique_ptr<S3rver> server_;
  ObjectUri uri_;
  std::unique_ptr<BlockingStore> blocking_;
  std::unique_ptr<UringReactor> loop_;
  std::unique_ptr<index::IndexFile> index_;
  std::string image_;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<MemoryCache> cache_;
  Metrics metrics_;
  std::vector<std::string> log_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineS3rverTest, RandomReadsThroughTheEngineEqualTheExportedImage) {
  ASSERT_NO_FATAL_FAILURE(put_objects());
  ASSERT_NO_FATAL_FAILURE(build_and_export());
  EngineOptions options;
  options.whole_object_max = 128 * kKiB;  // the large object and some small ones in chunks
  options.chunk_size = 64 * kKiB;
  ASSERT_NO_FATAL_FAILURE(start_engine(512 * kKiB, options));  // a few percent of the data
  const uint64_t size = engine_->size_bytes();
  std::mt19937_64 rng(5);
  for (int i = 0; i < 150; ++i) {
    uint64_t length = 1 + rng() % (rng() % 4 == 0 ? 300 * kKiB : 16 * kKiB);
    uint64_t offset = rng() % (size - length + 1);
    ASSERT_NO_FATAL_FAILURE(expect_matches_image(offset, length));
  }
  for (uint64_t off = 0; off < size; off += 256 * kKiB)  // and the whole device in order
    ASSERT_NO_FATAL_FAILURE(expect_matches_image(off, std::min(256 * kKiB, size - off)));
  EXPECT_FALSE(read(size - 1, 2).ok());
  EXPECT_EQ(metrics_.counter("shoal_engine_get_errors_total", "").value(), 0u);
  CacheStats s = cache_->stats();
  EXPECT_LE(s.bytes + s.inflight_bytes, cache_->budget());
}

TEST_F(EngineS3rverTest, OverwrittenObjectFailsAndOutageFailsThenRecovers) {
  ASSERT_NO_FATAL_FAILURE(put_objects());
  ASSERT_NO_FATAL_FAILURE(build_and_export());
  EngineOptions options;
  options.prefetch = PrefetchMode::kNone;
  ASSERT_NO_FATAL_FAILURE(start_engine(64ull << 20, options));
  const index::Extent* victim = extent_of("d1/f6.bin");
  const index::Extent* cached = extent_of("d2/f7.bin");
  const index::Extent* later = extent_of("d3/f8.bin");
  ASSERT_TRUE(victim && cached && later);
  auto offset = [](const index::Extent* e) { return uint64_t{e->first_block} * 4096; };
  ASSERT_NO_FATAL_FAILURE(expect_matches_image(offset(cached), 4096));

  // Same size, new bytes: S3's If-Match answers 412 (s3rver honours it), the ETag differs.
  uint64_t size = index_->objects()[victim->object].size;
  ASSERT_TRUE(blocking_->put("data/d1/f6.bin", Body::from_string(random_bytes(size, 1))).ok());
  Status changed = read(offset(victim), 4096);
  ASSERT_FALSE(changed.ok()) << "bytes of another version were served";
  EXPECT_NE(changed.error().message.find("data/d1/f6.bin"), std::string::npos);
  EXPECT_FALSE(read(offset(victim), 4096).ok());
  ASSERT_EQ(log_.size(), 1u);
  ASSERT_NO_FATAL_FAILURE(expect_matches_image(offset(later), 4096));

  // Outage: what is cached still reads, a fetch fails after the store's retries (short in
  // tests), and once the server is back the same read succeeds: an outage is not a change.
  server_->stop();
  ASSERT_NO_FATAL_FAILURE(expect_matches_image(offset(cached), 4096));
  const index::Extent* uncached = extent_of("d4/f9.bin");
  ASSERT_TRUE(uncached);
  Status down = read(offset(uncached), 4096);
  ASSERT_FALSE(down.ok());
  EXPECT_NE(down.error().kind, ErrorKind::kPreconditionFailed) << down.error().describe();
  ASSERT_TRUE(server_->restart().ok());
  ASSERT_NO_FATAL_FAILURE(expect_matches_image(offset(uncached), 4096));
  EXPECT_EQ(log_.size(), 1u);
}

}  // namespace
}  // namespace shoal
