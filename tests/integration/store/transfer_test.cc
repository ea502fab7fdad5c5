// upload_file on a real file:// store: multipart with parallel parts, CRC-64 end to end, and
// a failure in the middle that must abort cleanly and say which part failed.
#include "store/transfer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

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
    std::optional<Result<PutReply>> result;
    upload_file(store_->async(), store_->reactor(), (dir_ / name).string(), key, std::move(o),
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

}  // namespace
}  // namespace shoal
