// The writer end to end against Ceph's RADOS Gateway, a real S3 server: checkpoint generations
// (single PUTs and multipart), a kill -9 in the middle of a multipart upload resumed through
// ListParts — the path s3rver cannot exercise, having no ListParts — and a multipart upload
// left orphaned by a kill, aborted on restart once the object is found whole.
//
// RGW's deviation met here: CompleteMultipartUpload answers with an empty <ETag>; the writer
// records whatever it gets (informational only), so nothing is switched off for it.
#include <iostream>

#include "support/rgw.h"
#include "writer_harness.h"

namespace shoal::testing_writer {
namespace {

constexpr size_t kMiB = 1u << 20;
constexpr const char* kBucket = "shoal-writer";
constexpr size_t kPartSize = 5 * kMiB;

class RgwWriter : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = Rgw::start({kBucket});
    ASSERT_TRUE(server.ok()) << server.error().describe();
    server_ = std::move(server).value();
    auto store = BlockingStore::open(ObjectUri{ObjectUri::Scheme::kS3, kBucket, ""},
                                     server_->config());
    ASSERT_TRUE(store.ok()) << store.error().describe();
    store_.emplace(std::move(store).value());
  }

  fs::path watch() const { return tmp_.path() / "ckpt"; }

  WriterConfig config(const std::string& extra = "", bool watching = true) {
    return s3_writer_config(tmp_.path(), kBucket, server_->config(), extra, watching);
  }

  std::map<std::string, uint64_t> remote() { return remote_contents(*store_, "run1/"); }

  std::vector<Rgw::Upload> uploads() {
    auto listed = server_->multipart_uploads(kBucket);
    EXPECT_TRUE(listed.ok()) << listed.error().describe();
    return listed.ok() ? *listed : std::vector<Rgw::Upload>{};
  }

  // Parts RGW holds for the one upload in progress of `key` (0 while there is none).
  size_t parts_held(const std::string& key, std::string* upload_id = nullptr) {
    for (const Rgw::Upload& u : uploads()) {
      if (u.key != key) continue;
      auto parts = store_->list_parts(key, u.upload_id);
      if (!parts.ok()) return 0;
      if (upload_id != nullptr) *upload_id = u.upload_id;
      return parts->size();
    }
    return 0;
  }

  static void flush(WriterProcess& w) {
    auto reply = w.call({"flush", "0"});
    ASSERT_TRUE(reply.ok()) << reply.error().describe();
    ASSERT_TRUE(reply->ok) << reply->error;
  }

  TempDir tmp_;
  std::unique_ptr<Rgw> server_;
  std::optional<BlockingStore> store_;
};

TEST_F(RgwWriter, CheckpointGenerationsArriveByteIdentical) {
  WriterProcess writer(config());
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  CheckpointJob job(watch(), {1024, 13 * kMiB, 200 * 1024});
  for (int g = 0; g < 4; ++g) {
    job.write_generation(g);
    ASSERT_TRUE(eventually([&] { return writer.status_number("taken_files") == 2 * (g + 1); }));
  }
  flush(writer);
  EXPECT_EQ(remote(), job.expected());
  EXPECT_EQ(uploads().size(), 0u) << "a multipart upload was left holding parts";
  EXPECT_EQ(writer.stop(), 0);
}

// Killed with parts in the store: the restarted writer asks RGW which parts it holds
// (ListParts), keeps those it journaled, sends only the rest, and completes the same upload.
TEST_F(RgwWriter, AKillMidMultipartIsResumedThroughListParts) {
  const std::string key = "run1/big.bin";
  WriterProcess writer(config("parallel_parts = 1\n", false));
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  std::mt19937_64 rng(21);
  std::string bytes = random_bytes(rng, 40 * kPartSize + 12345);
  write_file(tmp_.path() / "big.bin", bytes);
  ASSERT_TRUE(writer.call({"put", (tmp_.path() / "big.bin").string()})->ok);
  ASSERT_TRUE(eventually([&] { return parts_held(key) >= 4; }, std::chrono::seconds(60)))
      << "no multipart upload of " << key << " with 4 parts appeared";
  writer.kill_hard();
  std::string upload_id;
  size_t held = parts_held(key, &upload_id);
  ASSERT_GE(held, 4u);
  ASSERT_LT(held, 41u) << "the upload finished before the kill";
  EXPECT_FALSE(store_->head(key).ok()) << "the object exists before the upload completed";

  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  flush(writer);
  EXPECT_EQ(remote(), (std::map<std::string, uint64_t>{{"big.bin", xxh3(bytes)}}));
  EXPECT_EQ(uploads().size(), 0u) << "a multipart upload was left holding parts";
  // Every part RGW held at the kill was journaled but, at most, the one whose record the kill
  // cut off: those were kept, not sent again.
  int64_t resumed = writer.status_number("resumed_bytes");
  EXPECT_GE(resumed, static_cast<int64_t>((held - 1) * kPartSize))
      << held << " parts of upload " << upload_id << " were in the store at the kill";
  EXPECT_LE(resumed, static_cast<int64_t>(held * kPartSize));
  EXPECT_EQ(writer.stop(), 0);
  std::cout << "killed with " << held << " of 41 parts in RGW; resumed " << resumed
            << " bytes without sending them again\n";
}

// Killed mid-upload, then the object appears whole by other means (what a store that completed
// the upload but lost the answer looks like): on restart the writer finds it byte-identical,
// skips it, and aborts the multipart upload it had journaled so its parts do not linger.
TEST_F(RgwWriter, ARestartAbortsTheOrphanedUploadOfAnObjectFoundWhole) {
  const std::string key = "run1/big.bin";
  WriterProcess writer(config("parallel_parts = 1\n", false));
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  std::mt19937_64 rng(22);
  std::string bytes = random_bytes(rng, 30 * kPartSize);
  write_file(tmp_.path() / "big.bin", bytes);
  ASSERT_TRUE(writer.call({"put", (tmp_.path() / "big.bin").string()})->ok);
  ASSERT_TRUE(eventually([&] { return parts_held(key) >= 2; }, std::chrono::seconds(60)));
  writer.kill_hard();
  ASSERT_EQ(uploads().size(), 1u);
  ASSERT_TRUE(store_->put(key, Body::from_string(bytes)).ok());

  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  flush(writer);
  EXPECT_EQ(writer.status_number("skipped_files"), 1);
  EXPECT_EQ(uploads().size(), 0u) << "the orphaned multipart upload still holds its parts";
  EXPECT_EQ(remote(), (std::map<std::string, uint64_t>{{"big.bin", xxh3(bytes)}}));
  EXPECT_EQ(writer.stop(), 0);
}

}  // namespace
}  // namespace shoal::testing_writer
