// The oss:// dialect against s3rver. s3rver speaks S3, not OSS: it accepts these requests only
// because they are anonymous (no credentials: nothing is signed, and s3rver lets unsigned
// requests through), and it ignores the x-oss-* headers and returns no CRC-64. What this
// covers is the OSS request path end to end — addressing, x-oss-range-behavior on ranged
// GETs, the local CRC-64 of uploaded bodies and parts — not OSS's answers. AppendObject is
// not tested: s3rver has none (DESIGN.md).
#include <gtest/gtest.h>

#include "common/poll_reactor.h"
#include "store/crc64.h"
#include "store/rest/rest_store.h"
#include "support/s3rver.h"

namespace shoal {
namespace {

constexpr const char* kBucket = "oss-dialect";

class S3rverOss : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = S3rver::start({kBucket});
    ASSERT_TRUE(server.ok()) << server.error().describe();
    server_ = std::move(server).value();
    StoreConfig config = server_->config();
    config.credentials = Credentials{};  // anonymous
    config.region = "cn-hangzhou";
    ObjectUri uri{.scheme = ObjectUri::Scheme::kOss, .bucket = kBucket};
    auto store = RestStore::create(uri, config, loop_);
    ASSERT_TRUE(store.ok()) << store.error().describe();
    store_ = std::move(store).value();
  }

  template <class T, class Start>
  Result<T> run(Start start) {
    return run_to_completion<T>(loop_, start);
  }

  PollReactor loop_;
  std::unique_ptr<S3rver> server_;
  std::unique_ptr<RestStore> store_;
};

TEST_F(S3rverOss, AdvertisesTheOssCapabilities) {
  Capabilities caps = store_->capabilities();
  EXPECT_TRUE(caps.append);
  EXPECT_TRUE(caps.crc64);
  EXPECT_EQ(store_->describe(), "oss://oss-dialect at " + server_->endpoint() + " (path style)");
}

TEST_F(S3rverOss, PutListHeadAndRangedGet) {
  std::string data(100000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  auto put = run<PutReply>(
      [&](Done<PutReply> d) { store_->put("dir/obj", Body::from_string(data), d); });
  ASSERT_TRUE(put.ok()) << put.error().describe();

  auto page = run<ListPage>([&](Done<ListPage> d) {
    ListQuery q;
    q.prefix = "dir/";
    store_->list(q, d);
  });
  ASSERT_TRUE(page.ok()) << page.error().describe();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].size, data.size());

  auto info = run<ObjectInfo>([&](Done<ObjectInfo> d) { store_->head("dir/obj", d); });
  ASSERT_TRUE(info.ok()) << info.error().describe();
  EXPECT_EQ(info->etag, put->etag);

  auto range = run<GetReply>([&](Done<GetReply> d) {
    GetQuery q;
    q.key = "dir/obj";
    q.range = ByteRange{4096, 8192};
    q.if_match = put->etag;
    store_->get(q, d);
  });
  ASSERT_TRUE(range.ok()) << range.error().describe();
  EXPECT_EQ(range->data, data.substr(4096, 8192));
  EXPECT_EQ(range->info.size, data.size());

  auto whole = run<GetReply>([&](Done<GetReply> d) {
    GetQuery q;
    q.key = "dir/obj";
    store_->get(q, d);
  });
  ASSERT_TRUE(whole.ok()) << whole.error().describe();
  EXPECT_TRUE(whole->data == data);
}

TEST_F(S3rverOss, PartsCarryTheirLocalCrc64) {
  std::vector<std::string> parts = {std::string(5 << 20, 'a'), std::string(1000, 'b')};
  auto id = run<std::string>([&](Done<std::string> d) { store_->create_multipart("mp/obj", d); });
  ASSERT_TRUE(id.ok()) << id.error().describe();
  std::vector<PartInfo> uploaded;
  for (int n = 1; n <= 2; ++n) {
    auto part = run<PartInfo>([&](Done<PartInfo> d) {
      store_->upload_part("mp/obj", *id, n, Body::from_string(parts[n - 1]), d);
    });
    ASSERT_TRUE(part.ok()) << part.error().describe();
    ASSERT_TRUE(part->crc64.has_value());
    EXPECT_EQ(*part->crc64, crc64(parts[n - 1]));
    uploaded.push_back(*part);
  }
  auto done = run<PutReply>(
      [&](Done<PutReply> d) { store_->complete_multipart("mp/obj", *id, uploaded, d); });
  ASSERT_TRUE(done.ok()) << done.error().describe();
  auto got = run<GetReply>([&](Done<GetReply> d) {
    GetQuery q;
    q.key = "mp/obj";
    store_->get(q, d);
  });
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_TRUE(got->data == parts[0] + parts[1]);
}

TEST_F(S3rverOss, MissingKeyIsNotFound) {
  auto info = run<ObjectInfo>([&](Done<ObjectInfo> d) { store_->head("absent", d); });
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().kind, ErrorKind::kNotFound) << info.error().describe();
}

TEST(RestStoreSetup, OssNeedsARegionForV4AndDerivesItFromTheEndpoint) {
  PollReactor loop;
  ObjectUri uri{.scheme = ObjectUri::Scheme::kOss, .bucket = "b"};
  StoreConfig config;
  auto missing = RestStore::create(uri, config, loop);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(missing.error().message.find("OSS_REGION"), std::string::npos);

  config.endpoint = "https://oss-cn-shanghai-internal.aliyuncs.com";
  auto derived = RestStore::create(uri, config, loop);
  ASSERT_TRUE(derived.ok()) << derived.error().describe();
  EXPECT_EQ((*derived)->describe(), "oss://b at https://oss-cn-shanghai-internal.aliyuncs.com");

  config.endpoint = "http://oss.example.com/some/path";
  auto with_path = RestStore::create(uri, config, loop);
  ASSERT_FALSE(with_path.ok());
  EXPECT_EQ(with_path.error().kind, ErrorKind::kInvalidArgument);

  config.endpoint = "http://localhost:9000";
  config.region = "cn-hangzhou";
  auto local = RestStore::create(uri, config, loop);
  ASSERT_TRUE(local.ok()) << local.error().describe();
  EXPECT_EQ((*local)->describe(), "oss://b at http://localhost:9000 (path style)");
  config.addressing = StoreConfig::Addressing::kVirtualHosted;
  auto forced = RestStore::create(uri, config, loop);
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ((*forced)->describe(), "oss://b at http://localhost:9000");

  ObjectUri s3 = uri;
  s3.scheme = ObjectUri::Scheme::kS3;
  auto aws = RestStore::create(s3, StoreConfig{}, loop);
  ASSERT_TRUE(aws.ok()) << aws.error().describe();
  EXPECT_EQ((*aws)->describe(), "s3://b at https://s3.us-east-1.amazonaws.com");
}

}  // namespace
}  // namespace shoal
