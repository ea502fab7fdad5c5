// The writer end to end against s3rver: checkpoint generations (single PUTs and multipart),
// the server down for a while, kill -9 in the middle of multipart uploads, and append mode
// rolling segments (S3 has no AppendObject).
//
// s3rver has no ListParts and no AbortMultipartUpload, so a multipart upload interrupted by a
// kill is restarted from the first part here; resumption proper is covered by the file://
// tests.
#include "support/s3rver.h"
#include "writer_harness.h"

namespace shoal::testing_writer {
namespace {

constexpr size_t kMiB = 1u << 20;
constexpr const char* kBucket = "shoal-writer";

class S3rverWriter : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = S3rver::start({kBucket});
    ASSERT_TRUE(server.ok()) << server.error().describe();
    server_ = std::move(server).value();
  }

  fs::path watch() const { return tmp_.path() / "ckpt"; }

  WriterConfig config(const std::string& extra = "", bool watching = true) {
    std::string toml;
    if (watching) toml += "watch = [\"" + watch().string() + "\"]\n";
    toml += "destination = \"s3://" + std::string(kBucket) + "/run1/\"\n";
    toml += "journal = \"" + (tmp_.path() / "state" / "writer.journal").string() + "\"\n";
    toml += "spool = \"" + (tmp_.path() / "state" / "spool").string() + "\"\n";
    toml += "multipart_threshold = \"6MiB\"\npart_size = \"5MiB\"\n";
    toml += "retry_base_ms = 100\nretry_cap_ms = 1000\n";
    toml += extra;
    toml += "\n[store]\nendpoint = \"" + server_->endpoint() + "\"\nregion = \"us-east-1\"\n"
            "access_key_id = \"S3RVER\"\naccess_key_secret = \"S3RVER\"\n"
            "retries = 3\nretry_base_ms = 10\nretry_cap_ms = 100\n";
    fs::create_directories(tmp_.path() / "state");
    fs::create_directories(watch());
    auto parsed = parse_writer_config(toml, "test.toml");
    EXPECT_TRUE(parsed.ok()) << parsed.error().describe();
    return parsed.ok() ? *parsed : WriterConfig{};
  }

  std::map<std::string, uint64_t> remote() {
    ObjectUri uri{ObjectUri::Scheme::kS3, kBucket, ""};
    auto store = BlockingStore::open(uri, server_->config());
    if (!store.ok()) throw std::runtime_error(store.error().describe());
    return remote_contents(*store, "run1/");
  }

  static void flush(WriterProcess& w) {
    auto reply = w.call({"flush", "0"});
    ASSERT_TRUE(reply.ok()) << reply.error().describe();
    ASSERT_TRUE(reply->ok) << reply->error;
  }

  TempDir tmp_;
  std::unique_ptr<S3rver> server_;
};

TEST_F(S3rverWriter, CheckpointGenerationsArriveByteIdentical) {
  WriterProcess writer(config());
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  CheckpointJob job(watch(), {1024, 13 * kMiB, 200 * 1024});
  for (int g = 0; g < 6; ++g) {
    job.write_generation(g);
    ASSERT_TRUE(eventually([&] { return writer.status_number("taken_files") == 2 * (g + 1); }));
  }
  flush(writer);
  EXPECT_EQ(remote(), job.expected());
  EXPECT_EQ(writer.stop(), 0);
}

TEST_F(S3rverWriter, ServerDownForAWhileThenEverythingArrives) {
  WriterProcess writer(config());
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  server_->stop();
  CheckpointJob job(watch(), {3000, 7 * kMiB});
  for (int g = 0; g < 4; ++g) {
    job.write_generation(g);
    ASSERT_TRUE(eventually([&] { return writer.status_number("taken_files") == 2 * (g + 1); }));
  }
  ASSERT_TRUE(eventually([&] { return writer.status_number("failed_attempts") > 2; }));
  auto early = writer.call({"flush", "100"});
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->ok);
  EXPECT_NE(early->error.find("not yet durable"), std::string::npos) << early->error;
  ASSERT_TRUE(server_->restart().ok());
  flush(writer);
  EXPECT_EQ(remote(), job.expected());
}

TEST_F(S3rverWriter, KillNineMidMultipartAndRestartLosesNothing) {
  WriterProcess writer(config("", false));
  std::mt19937_64 rng(9);
  std::map<std::string, uint64_t> expected;
  fs::path out = tmp_.path() / "out";
  fs::create_directories(out);
  for (int round = 0; round < 4; ++round) {
    writer.start();
    ASSERT_TRUE(writer.wait_ready());
    for (int i = 0; i < 2; ++i) {
      std::string name = "r" + std::to_string(round) + "-" + std::to_string(i) + ".bin";
      std::string bytes = random_bytes(rng, i == 0 ? 16 * kMiB : 4096);
      write_file(out / name, bytes);
      ASSERT_TRUE(writer.call({"put", (out / name).string()})->ok);
      expected[name] = xxh3(bytes);
      fs::remove(out / name);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 500));
    writer.kill_hard();
  }
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  flush(writer);
  EXPECT_EQ(remote(), expected);
}

TEST_F(S3rverWriter, AppendStreamRollsSegmentsOnAStoreWithoutAppend) {
  fs::path log = tmp_.path() / "logs" / "train.log";
  fs::create_directories(log.parent_path());
  WriterConfig c = config("\n[[append]]\nfile = \"" + log.string() +
                              "\"\nkey = \"logs/train.log\"\nroll_size = 1000\npoll_ms = 20\n",
                          false);
  WriterProcess writer(c);
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  std::string all;
  for (int i = 0; i < 300; ++i) {
    std::string line = "step " + std::to_string(i) + " loss 0." + std::to_string(i * 7) + "\n";
    append_file(log, line);
    all += line;
    if (i == 150) {  // a crash in the middle: segments are neither lost nor duplicated
      writer.kill_hard();
      writer.start();
      ASSERT_TRUE(writer.wait_ready());
    }
  }
  flush(writer);  // rolls the last, partial segment
  ObjectUri uri{ObjectUri::Scheme::kS3, kBucket, ""};
  auto store = BlockingStore::open(uri, server_->config());
  ASSERT_TRUE(store.ok());
  std::string joined;
  ListQuery q;
  q.prefix = "run1/logs/train.log.";
  ASSERT_TRUE(store->list_all(q, [&](const ListPage& page) -> Status {
                     for (const auto& o : page.objects) {
                       SHOAL_ASSIGN(GetReply r, store->get(GetQuery{o.key, std::nullopt, ""}));
                       EXPECT_LE(r.data.size(), 1000u) << o.key;
                       joined += r.data;
                     }
                     return {};
                   }).ok());
  EXPECT_EQ(joined, all);
}

}  // namespace
}  // namespace shoal::testing_writer
