// What is specific to the file:// backend; the shared S3 semantics are in the conformance
// suite (tests/integration/store/file_conformance_test.cc).
#include "store/file/file_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "store/blocking_store.h"
#include "store/open_store.h"
#include "store/uri.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

class FileStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(root_.empty());
    auto store = BlockingStore::wrap([&](Reactor& r) -> Result<std::unique_ptr<ObjectStore>> {
      return std::unique_ptr<ObjectStore>(std::make_unique<FileStore>(root_, r));
    });
    ASSERT_TRUE(store.ok());
    store_.emplace(std::move(*store));
  }

  void write(const std::string& rel, std::string_view content) {
    fs::create_directories((fs::path(root_) / rel).parent_path());
    std::ofstream(fs::path(root_) / rel, std::ios::binary) << content;
  }
  using Keys = std::vector<std::string>;
  Keys keys(ListQuery q) {
    Keys out;
    Status s = store_->list_all(q, [&](const ListPage& page) -> Status {
      // A page's objects and common prefixes interleave in key order.
      Keys entries = page.common_prefixes;
      for (const auto& o : page.objects) entries.push_back(o.key);
      std::sort(entries.begin(), entries.end());
      out.insert(out.end(), entries.begin(), entries.end());
      return {};
    });
    EXPECT_TRUE(s.ok()) << s.error().describe();
    return out;
  }
  BlockingStore& store() { return *store_; }

  test::TempDir temp_{"shoal-file-store"};
  std::string root_{temp_.path()};
  std::optional<BlockingStore> store_;  // declared after the tree it serves, so it goes first
};

TEST_F(FileStoreTest, ARangeLandsInTheCallersMemoryWhenItFits) {
  std::string content(10000, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 13);
  write("d/obj", content);
  std::string a(3000, '-'), b(9000, '-');
  GetQuery q;
  q.key = "d/obj";
  q.range = ByteRange{1000, 8000};
  q.into = {iovec{a.data(), a.size()}, iovec{b.data(), b.size()}};
  auto r = store().get(q);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->in_place);
  EXPECT_EQ(r->placed, 8000u);
  EXPECT_TRUE(r->data.empty());
  EXPECT_EQ(r->offset, 1000u);
  EXPECT_TRUE(a + b.substr(0, 5000) == content.substr(1000, 8000));
  EXPECT_EQ(b.substr(5000), std::string(4000, '-')) << "nothing written past the range";

  q.into = {iovec{a.data(), 100}};  // too small: the bytes come back as data
  r = store().get(q);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_FALSE(r->in_place);
  EXPECT_TRUE(r->data == content.substr(1000, 8000));
}

TEST_F(FileStoreTest, ListsInKeyByteOrderNotDirectoryWalkOrder) {
  for (const char* k : {"a/c", "a-b", "a0", "a/b/c", "b"}) write(k, k);
  EXPECT_EQ(keys(ListQuery{}), (Keys{"a-b", "a/b/c", "a/c", "a0", "b"}));
  EXPECT_EQ(keys(ListQuery{.delimiter = "/"}), (Keys{"a-b", "a/", "a0", "b"}));
}

TEST_F(FileStoreTest, ContinuationResumesAfterACommonPrefix) {
  for (const char* k : {"a/1", "a/2", "b", "c/1", "d"}) write(k, k);
  auto first = store().list(ListQuery{.delimiter = "/", .max_keys = 1});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->common_prefixes, Keys{"a/"});
  EXPECT_FALSE(first->next_token.empty());
  EXPECT_EQ(keys(ListQuery{.delimiter = "/", .max_keys = 1}), (Keys{"a/", "b", "c/", "d"}));
  EXPECT_EQ(keys(ListQuery{.delimiter = "/", .max_keys = 2}), (Keys{"a/", "b", "c/", "d"}));
}

TEST_F(FileStoreTest, OtherDelimitersGroupByTheirFirstOccurrence) {
  for (const char* k : {"x-1-a", "x-1-b", "x-2", "y"}) write(k, k);
  EXPECT_EQ(keys(ListQuery{.prefix = "x-", .delimiter = "-"}), (Keys{"x-1-", "x-2"}));
  EXPECT_EQ(keys(ListQuery{.prefix = "x-", .delimiter = "-", .max_keys = 1}),
            (Keys{"x-1-", "x-2"}));
}

TEST_F(FileStoreTest, EmptyDirectoriesAndReservedNamesAreInvisible) {
  fs::create_directories(fs::path(root_) / "empty/nested");
  write("d/.shoal-multipart/abc/part-00001", "staged");
  write("d/.shoal-tmp-1234", "half written");
  write("d/real", "x");
  EXPECT_EQ(keys(ListQuery{}), Keys{"d/real"});
  EXPECT_EQ(keys(ListQuery{.delimiter = "/"}), Keys{"d/"});
  auto dir = store().head("empty");
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.error().kind, ErrorKind::kNotFound) << "directories are not objects";
}

TEST_F(FileStoreTest, KeysWithoutAPathAreRefusedOnWriteAndAbsentOnRead) {
  for (const char* k : {"a//b", "/a", "a/", "a/../b", "./a", "x/.shoal-multipart/y",
                        ".shoal-tmp-1", ""}) {
    auto put = store().put(k, Body::from_string("x"));
    ASSERT_FALSE(put.ok()) << k;
    EXPECT_EQ(put.error().kind, ErrorKind::kInvalidArgument) << k;
    EXPECT_NE(put.error().message.find("cannot store key"), std::string::npos);
    auto head = store().head(k);
    ASSERT_FALSE(head.ok()) << k;
    EXPECT_EQ(head.error().kind, ErrorKind::kNotFound) << k;
  }
  EXPECT_TRUE(keys(ListQuery{}).empty());
}

TEST_F(FileStoreTest, PutIsAtomicAndLeavesNoTemporaryFiles) {
  ASSERT_TRUE(store().put("dir/obj", Body::from_string("content")).ok());
  ASSERT_TRUE(store().put("dir/obj", Body::from_string("replaced")).ok());
  Keys names;
  for (const auto& e : fs::directory_iterator(fs::path(root_) / "dir"))
    names.push_back(e.path().filename());
  EXPECT_EQ(names, Keys{"obj"});
}

TEST_F(FileStoreTest, AFileCannotAlsoBeADirectory) {
  ASSERT_TRUE(store().put("a", Body::from_string("file")).ok());
  auto below = store().put("a/b", Body::from_string("x"));
  ASSERT_FALSE(below.ok());
  EXPECT_NE(below.error().message.find("a"), std::string::npos);
}

TEST_F(FileStoreTest, EtagIsStableUntilTheFileChanges) {
  write("f", "data");
  auto a = store().head("f");
  auto b = store().head("f");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->etag, b->etag);
  timespec times[2] = {{0, UTIME_OMIT}, {12345, 678}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (root_ + "/f").c_str(), times, 0), 0);
  auto touched = store().head("f");
  ASSERT_TRUE(touched.ok());
  EXPECT_NE(touched->etag, a->etag);
  EXPECT_EQ(touched->mtime_ns, 12345'000'000'678);
}

TEST_F(FileStoreTest, SymlinksAreFollowedAndLoopsSkipped) {
  write("data/real.txt", "hello");
  fs::create_symlink(root_ + "/data/real.txt", fs::path(root_) / "data/link.txt");
  fs::create_symlink(root_ + "/data", fs::path(root_) / "alias");
  fs::create_symlink(root_ + "/data", fs::path(root_) / "data/loop");
  fs::create_symlink(root_ + "/nowhere", fs::path(root_) / "data/dangling");
  // data/loop is data itself, already being walked: nothing is listed below it.
  EXPECT_EQ(keys(ListQuery{}),
            (Keys{"alias/link.txt", "alias/real.txt", "data/link.txt", "data/real.txt"}));
  auto got = store().get(GetQuery{.key = "alias/link.txt"});
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(got->data, "hello");
}

TEST_F(FileStoreTest, PageSizeIsCappedAndMustBePositive) {
  auto zero = store().list(ListQuery{.max_keys = 0});
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().kind, ErrorKind::kInvalidArgument);
  for (int i = 0; i < 1001; ++i) write("k" + std::to_string(10000 + i), "");
  auto page = store().list(ListQuery{.max_keys = 5000});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->objects.size(), 1000u);
  EXPECT_EQ(page->next_token, "k10999");
}

TEST_F(FileStoreTest, MultipartEnforcesS3PartRules) {
  auto id = store().create_multipart("big");
  ASSERT_TRUE(id.ok()) << id.error().describe();
  auto small = store().upload_part("big", *id, 1, Body::from_string("tiny"));
  auto last = store().upload_part("big", *id, 2, Body::from_string("end"));
  ASSERT_TRUE(small.ok() && last.ok());
  struct Case {
    std::vector<PartInfo> parts;
    std::string code;
  };
  PartInfo wrong_etag = *last;
  wrong_etag.etag = "nope";
  for (const Case& c : std::initializer_list<Case>{
           {{*small, *last}, "EntityTooSmall"},
           {{*last, *small}, "InvalidPartOrder"},
           {{wrong_etag}, "InvalidPart"},
           {{}, "MalformedXML"},
       }) {
    auto done = store().complete_multipart("big", *id, c.parts);
    ASSERT_FALSE(done.ok()) << c.code;
    EXPECT_EQ(done.error().kind, ErrorKind::kInvalidArgument);
    EXPECT_EQ(done.error().code, c.code) << done.error().describe();
  }
  auto one = store().complete_multipart("big", *id, {*small});
  ASSERT_TRUE(one.ok()) << "a single small part is allowed: " << one.error().describe();
  EXPECT_FALSE(fs::exists(fs::path(root_) / ".shoal-multipart")) << "staging is cleaned up";
  auto got = store().get(GetQuery{.key = "big"});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->data, "tiny");
}

TEST_F(FileStoreTest, UploadIdsBelongToTheirKey) {
  auto id = store().create_multipart("dir/one");
  ASSERT_TRUE(id.ok());
  for (auto [k, upload] : std::initializer_list<std::pair<std::string, std::string>>{
           {"dir/two", *id}, {"dir/one", "0123456789abcdef0123456789abcdef"},
           {"dir/one", "../../etc"}}) {
    auto part = store().upload_part(k, upload, 1, Body::from_string("x"));
    ASSERT_FALSE(part.ok()) << k << " " << upload;
    EXPECT_EQ(part.error().kind, ErrorKind::kNotFound);
    EXPECT_EQ(part.error().code, "NoSuchUpload");
  }
}

TEST_F(FileStoreTest, IfMatchMismatchIsAPreconditionFailure) {
  write("f", "x");
  auto got = store().get(GetQuery{.key = "f", .if_match = "stale"});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().kind, ErrorKind::kPreconditionFailed);
  EXPECT_NE(got.error().message.find("stale"), std::string::npos);
}

TEST_F(FileStoreTest, RemovingADirectoryKeyIsANoOp) {
  write("d/x", "x");
  ASSERT_TRUE(store().remove("d").ok());
  EXPECT_EQ(keys(ListQuery{}), Keys{"d/x"});
}

TEST(OpenStore, FileUrisUseAbsolutePathsAsKeys) {
  test::TempDir temp("shoal-open-store");
  const std::string& dir = temp.path();
  ASSERT_FALSE(dir.empty());
  std::ofstream(dir + "/a.txt") << "abc";
  auto uri = parse_object_uri("file://" + dir + "/");
  ASSERT_TRUE(uri.ok());
  auto store = BlockingStore::open(*uri, StoreConfig{});
  ASSERT_TRUE(store.ok()) << store.error().describe();
  auto head = store->head(uri->prefix + "a.txt");
  ASSERT_TRUE(head.ok()) << head.error().describe();
  EXPECT_EQ(head->size, 3u);
  EXPECT_NE(store->async().describe().find("file://"), std::string::npos);
}

TEST(OpenStore, BucketSchemesGoToTheRestClient) {
  PollReactor reactor;
  auto uri = parse_object_uri("s3://bucket/prefix");
  ASSERT_TRUE(uri.ok());
  StoreConfig config;
  config.endpoint = "http://127.0.0.1:9";
  config.region = "us-east-1";
  auto store = open_store(*uri, config, reactor);
  ASSERT_TRUE(store.ok()) << store.error().describe();
  EXPECT_EQ((*store)->describe().find("file://"), std::string::npos) << (*store)->describe();
  EXPECT_FALSE((*store)->capabilities().append) << "S3 cannot append";
}

}  // namespace
}  // namespace shoal
