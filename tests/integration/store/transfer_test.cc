// The upload engine on a real file:// store: multipart with parallel parts, CRC-64 end to
// end, a failure in the middle that must abort cleanly and say which part failed, and the
// journal hooks a resumable caller (the writer) records and resumes from.
#include "store/transfer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "common/blocking_pool.h"
#include "store/blocking_store.h"
#include "store/crc64.h"
#include "store/uri.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

class TransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(temp_.path().empty());
    fs::create_directories(dir_ / "bucket");
    auto uri = parse_object_uri("file://" + (dir_ / "bucket").string());
    ASSERT_TRUE(uri.ok());
    auto store = BlockingStore::open(*uri, StoreConfig{});
    ASSERT_TRUE(store.ok()) << store.error().describe();
    store_.emplace(std::move(*store));
    prefix_ = uri->prefix + "/";
  }

  std::string make_file(const std::string& name, size_t size) {
    std::mt19937_64 rng(size);
    std::string data(size, '\0');
    for (auto& c : data) c = static_cast<char>(rng());
    std::ofstream((dir_ / name).string(), std::ios::binary) << data;
    return data;
  }

  Result<PutReply> upload(const std::string& name, const std::string& key, UploadOptions o) {
    auto workers = BlockingPool::create(store_->reactor(), 2);
    if (!workers.ok()) return std::move(workers).error();
    std::optional<Result<PutReply>> result;
    upload_file(store_->async(), **workers, (dir_ / name).string(), key, std::move(o),
                [&](Result<PutReply> r) { result.emplace(std::move(r)); });
    EXPECT_TRUE(store_->reactor().run_until([&] { return result.has_value(); }));
    if (!result) return Error(ErrorKind::kInternal, "never completed");
    return std::move(*result);
  }

  Result<PutReply> upload_resumable(const std::string& name, const std::string& key,
                                    MultipartJournal& journal,
                                    std::optional<MultipartResume> resume, UploadOptions o) {
    auto workers = BlockingPool::create(store_->reactor(), 2);
    if (!workers.ok()) return std::move(workers).error();
    FileUpload file{.path = (dir_ / name).string(),
                    .size = fs::file_size(dir_ / name),
                    .key = key,
                    .journal = &journal,
                    .resume = std::move(resume)};
    std::optional<Result<PutReply>> result;
    shoal::upload(store_->async(), **workers, std::move(file), std::move(o),
                  [&](Result<PutReply> r) { result.emplace(std::move(r)); });
    EXPECT_TRUE(store_->reactor().run_until([&] { return result.has_value(); }));
    if (!result) return Error(ErrorKind::kInternal, "never completed");
    return std::move(*result);
  }

  test::TempDir temp_{"shoal-transfer"};
  fs::path dir_{temp_.path()};
  std::string prefix_;
  std::optional<BlockingStore> store_;
};

TEST_F(TransferTest, PartSizeKeepsWithinThePartLimit) {
  Capabilities caps;
  EXPECT_EQ(choose_part_size(1, caps), 8ull << 20);
  EXPECT_EQ(choose_part_size(80ull << 30, caps), 16ull << 20);  // 80 GiB: 8 MiB needs 10240 parts
  uint64_t huge = 48ull << 40;
  EXPECT_LE((huge + choose_part_size(huge, caps) - 1) / choose_part_size(huge, caps), 10000u);
  caps.min_part_size = 100ull << 20;
  EXPECT_EQ(choose_part_size(1, caps), 100ull << 20);
}

TEST_F(TransferTest, MultipartUploadInParallelPartsRoundTripsWithCrc) {
  std::string data = make_file("big", (17ull << 20) + 12345);  // 4 parts of 5 MiB, the last short
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  UploadOptions o;
  o.multipart_threshold = 1 << 20;
  o.part_size = 5ull << 20;
  o.parallel_parts = 3;
  o.progress = [&](uint64_t done, uint64_t total) { progress.emplace_back(done, total); };
  auto put = upload("big", prefix_ + "big", o);
  ASSERT_TRUE(put.ok()) << put.error().describe();
  ASSERT_TRUE(put->crc64.has_value());
  EXPECT_EQ(*put->crc64, crc64(data));
  ASSERT_EQ(progress.size(), 4u);
  EXPECT_EQ(progress.back().first, data.size());

  auto got = store_->get(GetQuery{prefix_ + "big", std::nullopt, ""});
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_TRUE(got->data == data);
}

TEST_F(TransferTest, SmallFileIsOnePut) {
  std::string data = make_file("small", 1000);
  auto put = upload("small", prefix_ + "small", UploadOptions{});
  ASSERT_TRUE(put.ok()) << put.error().describe();
  auto got = store_->get(GetQuery{prefix_ + "small", std::nullopt, ""});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->data, data);
}

TEST_F(TransferTest, MissingFileIsAClearErrorNotACrash) {
  auto put = upload("absent", prefix_ + "absent", UploadOptions{});
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.error().kind, ErrorKind::kNotFound);
  EXPECT_NE(put.error().message.find("absent"), std::string::npos);
}

TEST_F(TransferTest, FileShrinkingMidUploadFailsNamingThePartAndLeavesNoObject) {
  make_file("shrinks", 12ull << 20);
  UploadOptions o;
  o.multipart_threshold = 1 << 20;
  o.part_size = 5ull << 20;
  o.parallel_parts = 1;
  bool truncated = false;
  o.progress = [&](uint64_t, uint64_t) {
    if (!truncated) fs::resize_file(dir_ / "shrinks", 6ull << 20), truncated = true;
  };
  auto put = upload("shrinks", prefix_ + "shrinks", o);
  ASSERT_FALSE(put.ok());
  EXPECT_NE(put.error().message.find("part"), std::string::npos) << put.error().describe();
  auto head = store_->head(prefix_ + "shrinks");
  ASSERT_FALSE(head.ok());
  EXPECT_EQ(head.error().kind, ErrorKind::kNotFound);
}


// Records what the engine reports, as the writer's journal would.
struct RecordingJournal final : MultipartJournal {
  void started(const std::string& id, uint64_t size,
               std::function<void(Status)> durable) override {
    started_ids.push_back(id);
    part_size = size;
    durable(Status{});
  }
  void part_uploaded(const PartInfo& part) override { parts.push_back(part); }
  std::vector<std::string> started_ids;
  uint64_t part_size = 0;
  std::vector<PartInfo> parts;
};

UploadOptions five_mib_parts() {
  UploadOptions o;
  o.multipart_threshold = 1 << 20;
  o.part_size = 5ull << 20;
  o.parallel_parts = 2;
  return o;
}

TEST_F(TransferTest, AJournalLearnsOfTheUploadBeforeAnyPartAndOfEveryPart) {
  std::string data = make_file("big", (12ull << 20) + 7);  // parts of 5, 5 and 2 MiB
  RecordingJournal journal;
  auto put = upload_resumable("big", prefix_ + "big", journal, std::nullopt, five_mib_parts());
  ASSERT_TRUE(put.ok()) << put.error().describe();
  ASSERT_EQ(journal.started_ids.size(), 1u);
  EXPECT_EQ(journal.part_size, 5ull << 20);
  ASSERT_EQ(journal.parts.size(), 3u);
  for (const PartInfo& p : journal.parts) {
    ASSERT_TRUE(p.crc64.has_value());
    uint64_t offset = static_cast<uint64_t>(p.number - 1) * (5ull << 20);
    EXPECT_EQ(*p.crc64, crc64(std::string_view(data).substr(offset, p.size))) << p.number;
  }
  EXPECT_EQ(*put->crc64, crc64(data));
}

TEST_F(TransferTest, AResumedUploadKeepsTheRecordedPartsTheStoreStillHas) {
  std::string data = make_file("big", (12ull << 20) + 7);
  std::string key = prefix_ + "big";
  // An earlier attempt created the upload and sent part 1, then died.
  auto id = store_->create_multipart(key);
  ASSERT_TRUE(id.ok()) << id.error().describe();
  std::string path = (dir_ / "big").string();
  auto part1 = store_->upload_part(key, *id, 1, Body::from_file(path, 0, 5ull << 20));
  ASSERT_TRUE(part1.ok()) << part1.error().describe();
  MultipartResume resume{*id, 5ull << 20, {}};
  resume.parts[1] = PartInfo{1, part1->etag, 5ull << 20,
                             crc64(std::string_view(data).substr(0, 5ull << 20))};
  RecordingJournal journal;
  auto put = upload_resumable("big", key, journal, resume, five_mib_parts());
  ASSERT_TRUE(put.ok()) << put.error().describe();
  EXPECT_TRUE(journal.started_ids.empty());  // the same upload, not a fresh one
  ASSERT_EQ(journal.parts.size(), 2u);       // parts 2 and 3 only
  for (const PartInfo& p : journal.parts) EXPECT_NE(p.number, 1);
  EXPECT_EQ(*put->crc64, crc64(data));
  auto got = store_->get(GetQuery{key, std::nullopt, ""});
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->data == data);
}

TEST_F(TransferTest, AResumeOfAnUploadTheStoreForgotStartsAFreshOne) {
  std::string data = make_file("big", (6ull << 20) + 1);
  MultipartResume resume{"no-such-upload", 5ull << 20, {}};
  RecordingJournal journal;
  auto put = upload_resumable("big", prefix_ + "big", journal, resume, five_mib_parts());
  ASSERT_TRUE(put.ok()) << put.error().describe();
  ASSERT_EQ(journal.started_ids.size(), 1u);
  EXPECT_NE(journal.started_ids[0], "no-such-upload");
  EXPECT_EQ(*put->crc64, crc64(data));
}

TEST_F(TransferTest, AFailedResumableUploadIsLeftForTheNextAttempt) {
  make_file("shrinks", 12ull << 20);
  UploadOptions o = five_mib_parts();
  o.parallel_parts = 1;
  bool truncated = false;
  o.progress = [&](uint64_t, uint64_t) {
    if (!truncated) fs::resize_file(dir_ / "shrinks", 6ull << 20), truncated = true;
  };
  RecordingJournal journal;
  std::string key = prefix_ + "shrinks";
  auto put = upload_resumable("shrinks", key, journal, std::nullopt, o);
  ASSERT_FALSE(put.ok());
  ASSERT_EQ(journal.started_ids.size(), 1u);
  auto parts = store_->list_parts(key, journal.started_ids[0]);  // not aborted
  ASSERT_TRUE(parts.ok()) << parts.error().describe();
  EXPECT_EQ(parts->size(), 1u);
}

}  // namespace
}  // namespace shoal
