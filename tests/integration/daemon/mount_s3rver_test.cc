// `shoal mount` of an S3 prefix served by s3rver, at scale: 5,000 files of 1 B –
// 200 KB (skewed small, ~130 MB in all) in 50 directories, with empty files, nested
// directories, names with spaces and non-ASCII letters and one chunked file. Indexed on the fly
// from a listing and walked in order; indexed from an inventory manifest and read by 8 threads
// in random order. File count and xxh3 of every file equal the source; stats; umount leaves
// nothing behind. The objects are uploaded once for the suite (64 PUTs in flight).
// s3rver deviations met here: a range GET of a 0-byte object is broken (the engine never GETs
// empty files: they have no extent); an empty-prefix delimiter listing returns no common
// prefixes (the data lives under "data/"); a delimiter listing leaves out prefixes that hold
// only prefixes (every directory of the tree holds a file directly).
#include "integration/daemon/mount_harness.h"
#include "store/blocking_store.h"
#include "support/mounts.h"

namespace shoal::mount_test {
namespace {

constexpr const char* kBucket = "shoal-mount";
constexpr int kFiles = 5000;
constexpr int kDirectories = 50;

class MountS3rverTest : public MountTest {
 protected:
  static void SetUpTestSuite() {
    auto server = S3rver::start({kBucket});
    ASSERT_TRUE(server.ok()) << server.error().describe();
    server_ = server->release();
    tree_ = new Tree(make_many_files_tree(kFiles, kDirectories));
    auto manifest = upload_tree(*server_, kBucket, *tree_, "data/");
    ASSERT_TRUE(manifest.ok()) << manifest.error().describe();
    manifest_ = new std::string(std::move(*manifest));
  }
  static void TearDownTestSuite() {
    delete server_;
    delete tree_;
    delete manifest_;
  }

  void SetUp() override {
    ASSERT_NE(manifest_, nullptr) << "the suite's upload failed";
    MountTest::SetUp();
    if (HasFatalFailure()) return;
    // shoal and the shoald it starts find the keys where a user would put them.
    ::setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
    store_flags_ = " --endpoint " + server_->endpoint() + " --region us-east-1";
  }
  void TearDown() override {
    MountTest::TearDown();
    ::unsetenv("AWS_ACCESS_KEY_ID");
    ::unsetenv("AWS_SECRET_ACCESS_KEY");
  }

  void umount_and_check() {
    CommandResult unmounted = shoal("umount " + mountpoint_);
    ASSERT_EQ(unmounted.exit_code, 0) << unmounted.output;
    expect_nothing_left();
  }

  // Shared by the suite: the server outlives every test's mounts (TearDown stops them first).
  static inline S3rver* server_ = nullptr;
  static inline Tree* tree_ = nullptr;
  static inline std::string* manifest_ = nullptr;  // what was uploaded, as an inventory
  std::string store_flags_;
};

TEST_F(MountS3rverTest, UriMountWalkedInOrderEqualsTheSource) {
  std::string uri = std::string("s3://") + kBucket + "/data";
  CommandResult mounted = shoal("mount " + uri + " " + mountpoint_ + store_flags_);
  ASSERT_EQ(mounted.exit_code, 0) << mounted.output;
  std::map<std::string, uint64_t> walked = xxh3_of_walk(mountpoint_);
  EXPECT_EQ(walked.size(), static_cast<size_t>(kFiles));
  EXPECT_EQ(walk_differences(xxh3_of_tree(*tree_), walked), "");
  CommandResult stats = shoal("stats " + mountpoint_);
  ASSERT_EQ(stats.exit_code, 0) << stats.output;
  EXPECT_GT(metric(stats.output, "shoal_engine_gets_total"), 0) << stats.output;
  EXPECT_GT(metric(stats.output, "shoal_engine_cache_misses_total"), 0) << stats.output;
  EXPECT_GT(metric(stats.output, "shoal_engine_prefetch_used_total"), 0) << stats.output;
  EXPECT_EQ(metric(stats.output, "shoal_engine_get_errors_total"), 0) << stats.output;
  EXPECT_EQ(stats.output.find("S3RVER"), std::string::npos) << "no secrets in the stats";
  umount_and_check();
}

// The index comes from an inventory manifest here (the listing path is the test above), so
// this test also covers volumes indexed without a listing. A cache smaller than the data and
// direct mode make the readers' misses real GETs, evictions included.
TEST_F(MountS3rverTest, IndexFileMountReadInRandomOrderByEightThreadsEqualsTheSource) {
  std::string index = dir_ + "/s3.shix";
  std::string manifest = dir_ + "/inventory.csv";
  std::ofstream(manifest) << *manifest_;
  std::string uri = std::string("s3://") + kBucket + "/data/";
  CommandResult built =
      shoal("index build " + uri + " --from-manifest " + manifest + " -o " + index);
  ASSERT_EQ(built.exit_code, 0) << built.output;
  CommandResult mounted = shoal("mount " + index + " " + mountpoint_ + store_flags_ +
                                " --cache-memory 32MiB --prefetch none");
  ASSERT_EQ(mounted.exit_code, 0) << mounted.output;
  std::vector<std::string> bad = mismatches_in_random_order(xxh3_of_tree(*tree_), mountpoint_, 8);
  EXPECT_TRUE(bad.empty()) << bad.size() << " files differ, the first: " << bad.front();
  std::map<std::string, uint64_t> walked = xxh3_of_walk(mountpoint_);  // names and count
  EXPECT_EQ(walk_differences(xxh3_of_tree(*tree_), walked), "");
  CommandResult stats = shoal("stats " + mountpoint_);
  ASSERT_EQ(stats.exit_code, 0) << stats.output;
  EXPECT_EQ(metric(stats.output, "shoal_engine_get_errors_total"), 0) << stats.output;
  EXPECT_LE(metric(stats.output, "shoal_engine_cache_bytes") +
                metric(stats.output, "shoal_engine_cache_inflight_bytes"),
            32.0 * 1024 * 1024)
      << stats.output;
  umount_and_check();
}

// An index built once for a fleet and kept in the bucket: `index build -o s3://…` uploads it,
// `mount s3://….shix` fetches and verifies it into the index cache, a second mount reuses the
// copy while the object's ETag is the same, and an object that is not a valid index (here: cut
// in half) is refused without leaving anything behind in the cache.
TEST_F(MountS3rverTest, AnIndexSharedThroughTheBucketIsFetchedOnceVerifiedAndReused) {
  std::string shared = std::string("s3://") + kBucket + "/indexes/data.shix";
  CommandResult built = shoal("index build s3://" + std::string(kBucket) + "/data/ -o " + shared +
                              store_flags_);
  ASSERT_EQ(built.exit_code, 0) << built.output;

  CommandResult mounted = shoal("mount " + shared + " " + mountpoint_ + store_flags_);
  ASSERT_EQ(mounted.exit_code, 0) << mounted.output;
  EXPECT_NE(mounted.output.find("fetched and verified"), std::string::npos) << mounted.output;
  EXPECT_EQ(walk_differences(xxh3_of_tree(*tree_), xxh3_of_walk(mountpoint_)), "");
  umount_and_check();

  mounted = shoal("mount " + shared + " " + mountpoint_ + store_flags_);
  ASSERT_EQ(mounted.exit_code, 0) << mounted.output;
  EXPECT_NE(mounted.output.find("unchanged, reusing"), std::string::npos) << mounted.output;
  EXPECT_EQ(walk_differences(xxh3_of_tree(*tree_), xxh3_of_walk(mountpoint_)), "");
  umount_and_check();

  auto store = BlockingStore::open(ObjectUri{ObjectUri::Scheme::kS3, kBucket, ""},
                                   server_->config());
  ASSERT_TRUE(store.ok()) << store.error().describe();
  auto whole = store->get(GetQuery{"indexes/data.shix", std::nullopt, "", {}});
  ASSERT_TRUE(whole.ok()) << whole.error().describe();
  std::string half = whole->data.substr(0, whole->data.size() / 2);
  ASSERT_TRUE(store->put("indexes/data.shix", Body::from_string(half)).ok());
  mounted = shoal("mount " + shared + " " + mountpoint_ + store_flags_);
  EXPECT_NE(mounted.exit_code, 0) << mounted.output;
  EXPECT_NE(mounted.output.find("not a valid index"), std::string::npos) << mounted.output;
  EXPECT_FALSE(test::is_mounted(mountpoint_));
  for (const auto& entry : fs::directory_iterator(dir_ + "/indexes"))
    EXPECT_EQ(entry.path().string().find(".partial"), std::string::npos)
        << entry.path() << " left in the index cache";
}

}  // namespace
}  // namespace shoal::mount_test
