#include "tests/support/store_conformance.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <vector>

#include "store/crc64.h"

namespace shoal {

// Only test files that instantiate the suite run it; every other test binary links it too.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);

void StoreConformance::SetUp() {
  auto target = GetParam().open();
  ASSERT_TRUE(target.ok()) << "cannot open the " << GetParam().name
                           << " store: " << target.error().describe();
  ASSERT_TRUE(target->prefix.ends_with('/')) << "a conformance prefix must end in '/'";
  target_.emplace(std::move(*target));
}

void StoreConformance::TearDown() {
  if (target_ && target_->cleanup) target_->cleanup();
  target_.reset();
}

std::string conformance_test_name(const ::testing::TestParamInfo<ConformanceBackend>& info) {
  return info.param.name;
}

void PrintTo(const ConformanceBackend& backend, std::ostream* out) { *out << backend.name; }

namespace {

constexpr uint64_t kMiB = 1 << 20;

std::string pattern(size_t size, uint32_t seed) {
  std::mt19937 gen(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(gen() & 0xff);
  return out;
}

// Puts each key with the key itself as content, `concurrency` requests at a time.
Status put_many(BlockingStore& store, const std::vector<std::string>& keys, size_t concurrency) {
  size_t next = 0, finished = 0;
  std::optional<Error> failure;
  std::function<void()> start_one = [&] {
    size_t i = next++;
    store.async().put(keys[i], Body::from_string(keys[i]), [&, i](Result<PutReply> r) {
      ++finished;
      if (!r.ok() && !failure) failure = r.error().with_context("put " + keys[i]);
      if (next < keys.size() && !failure) start_one();
    });
  };
  while (next < std::min(concurrency, keys.size())) start_one();
  store.reactor().run_until([&] { return finished == next; });
  if (failure) return *failure;
  if (finished != keys.size()) return Error(ErrorKind::kInternal, "not every put completed");
  return {};
}

struct Listing {
  std::vector<std::string> keys;
  std::vector<std::string> prefixes;
  std::vector<size_t> page_sizes;    // objects + common prefixes per page
  std::vector<size_t> page_objects;  // objects alone per page
};

Result<Listing> list_everything(BlockingStore& store, ListQuery query) {
  Listing out;
  SHOAL_TRY(store.list_all(std::move(query), [&](const ListPage& page) -> Status {
    for (const ObjectInfo& o : page.objects) out.keys.push_back(o.key);
    out.prefixes.insert(out.prefixes.end(), page.common_prefixes.begin(),
                        page.common_prefixes.end());
    out.page_sizes.push_back(page.objects.size() + page.common_prefixes.size());
    out.page_objects.push_back(page.objects.size());
    return {};
  }));
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Listed keys against the expected ones in byte order; as a set where the backend lists in
// another order (sorting keeps duplicates, so a key listed twice still fails).
void expect_keys(const ConformanceBackend& backend, const std::vector<std::string>& listed,
                 const std::vector<std::string>& expected_in_byte_order) {
  if (backend.lists_in_byte_order) {
    EXPECT_EQ(listed, expected_in_byte_order);
  } else {
    EXPECT_EQ(sorted(listed), expected_in_byte_order);
  }
}

size_t pages_for(size_t entries, size_t per_page) { return (entries + per_page - 1) / per_page; }

template <class T>
ErrorKind kind_of(const Result<T>& r) {
  return r.ok() ? ErrorKind::kInternal : r.error().kind;
}

#define EXPECT_ERROR_KIND(expr, expected_kind)                                         \
  do {                                                                                 \
    auto&& r_ = (expr);                                                                \
    ASSERT_FALSE(r_.ok()) << #expr " succeeded";                                       \
    EXPECT_EQ(r_.error().kind, expected_kind) << r_.error().describe();                \
  } while (0)

std::string key_with_number(const std::string& base, const char* format, int n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, format, n);
  return base + buf;
}

// base + format(first) … base + format(last), in byte order for zero-padded formats.
std::vector<std::string> numbered(const std::string& base, const char* format, int first,
                                  int last) {
  std::vector<std::string> keys;
  for (int n = first; n <= last; ++n) keys.push_back(key_with_number(base, format, n));
  return keys;
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// 2,500 keys below `base`: d0/…d3/ with 600 each, 99 files beside them, and "d0-side",
// which sorts before "d0/" in byte order ('-' < '/') although a directory walk meets it after.
std::vector<std::string> many_keys(const std::string& base) {
  std::vector<std::string> keys;
  for (int d = 0; d < 4; ++d)
    for (int k = 0; k < 600; ++k)
      keys.push_back(key_with_number(base + "d" + std::to_string(d) + "/", "k%03d", k));
  for (int f = 0; f < 99; ++f) keys.push_back(key_with_number(base, "f%02d", f));
  keys.push_back(base + "d0-side");
  return keys;
}

void expect_recursive_pages(const ConformanceBackend& backend, BlockingStore& store,
                            const std::string& base, const std::vector<std::string>& expected) {
  auto all = list_everything(store, ListQuery{.prefix = base});
  ASSERT_TRUE(all.ok()) << all.error().describe();
  expect_keys(backend, all->keys, expected);
  EXPECT_TRUE(all->prefixes.empty());
  EXPECT_EQ(all->page_sizes, (std::vector<size_t>{1000, 1000, 500}));

  auto small = list_everything(store, ListQuery{.prefix = base, .max_keys = 700});
  ASSERT_TRUE(small.ok()) << small.error().describe();
  expect_keys(backend, small->keys, expected);
  EXPECT_EQ(small->page_sizes, (std::vector<size_t>{700, 700, 700, 400}));
}

void expect_delimited_pages(const ConformanceBackend& backend, BlockingStore& store,
                            const std::string& base) {
  constexpr size_t kMaxKeys = 7;
  auto grouped = list_everything(
      store, ListQuery{.prefix = base, .delimiter = "/", .max_keys = static_cast<int>(kMaxKeys)});
  ASSERT_TRUE(grouped.ok()) << grouped.error().describe();
  std::vector<std::string> files = concat({base + "d0-side"}, numbered(base, "f%02d", 0, 98));
  std::vector<std::string> dirs{base + "d0/", base + "d1/", base + "d2/", base + "d3/"};
  expect_keys(backend, grouped->keys, files);
  EXPECT_EQ(grouped->prefixes, dirs);
  if (backend.common_prefixes_count_toward_max_keys) {
    EXPECT_EQ(grouped->page_sizes.size(), pages_for(files.size() + dirs.size(), kMaxKeys));
    for (size_t n : grouped->page_sizes) EXPECT_LE(n, kMaxKeys);
  } else {
    EXPECT_EQ(grouped->page_objects.size(), pages_for(files.size(), kMaxKeys));
    for (size_t n : grouped->page_objects) EXPECT_LE(n, kMaxKeys);
  }

  auto partial = list_everything(store, ListQuery{.prefix = base + "d", .delimiter = "/"});
  ASSERT_TRUE(partial.ok()) << partial.error().describe();
  EXPECT_EQ(partial->keys, std::vector<std::string>{base + "d0-side"});
  EXPECT_EQ(partial->prefixes, dirs);
}

void expect_partial_prefix_and_start_after(const ConformanceBackend& backend,
                                           BlockingStore& store, const std::string& base) {
  auto hundred = list_everything(store, ListQuery{.prefix = base + "d1/k1"});
  ASSERT_TRUE(hundred.ok()) << hundred.error().describe();
  expect_keys(backend, hundred->keys, numbered(base + "d1/", "k%03d", 100, 199));

  auto rest = list_everything(store, ListQuery{.prefix = base, .start_after = base + "d2/k599"});
  ASSERT_TRUE(rest.ok()) << rest.error().describe();
  expect_keys(backend, rest->keys,
              concat(numbered(base + "d3/", "k%03d", 0, 599), numbered(base, "f%02d", 0, 98)));
}

// The parts of an unfinished upload, or kUnsupported from a server without ListParts.
void expect_parts_listed(const ConformanceBackend& backend, BlockingStore& store,
                         const std::string& key, const std::string& upload_id,
                         const std::vector<PartInfo>& uploaded) {
  auto listed = store.list_parts(key, upload_id);
  if (!backend.serves_list_parts) {
    EXPECT_ERROR_KIND(listed, ErrorKind::kUnsupported);
    return;
  }
  ASSERT_TRUE(listed.ok()) << listed.error().describe();
  ASSERT_EQ(listed->size(), uploaded.size());
  for (size_t i = 0; i < uploaded.size(); ++i) {
    EXPECT_EQ((*listed)[i].number, uploaded[i].number);
    EXPECT_EQ((*listed)[i].etag, uploaded[i].etag);
    EXPECT_EQ((*listed)[i].size, uploaded[i].size);
  }
}

}  // namespace

// One test for every listing check, so the 2,500 keys are uploaded once.
TEST_P(StoreConformance, ListsThousandsOfKeysInPages) {
  std::string base = key("many/");
  std::vector<std::string> keys = many_keys(base);
  ASSERT_EQ(keys.size(), 2500u);
  Status uploaded = put_many(store(), keys, 32);
  ASSERT_TRUE(uploaded.ok()) << uploaded.error().describe();
  {
    SCOPED_TRACE("recursive listing");
    expect_recursive_pages(GetParam(), store(), base, sorted(keys));
  }
  {
    SCOPED_TRACE("listing with a delimiter");
    expect_delimited_pages(GetParam(), store(), base);
  }
  {
    SCOPED_TRACE("partial prefix and start-after");
    expect_partial_prefix_and_start_after(GetParam(), store(), base);
  }
}

TEST_P(StoreConformance, KeysWithSpecialCharactersRoundTrip) {
  std::vector<std::string> names{"with space",  "plus+sign",      "percent%41%", "equals=sign",
                                 "a b+c%d=e&f", "unicode-ü-日本語", "tilde~quote'"};
  std::vector<std::string> stored;
  for (const std::string& name : names) {
    std::string k = key(name);
    auto put = store().put(k, Body::from_string("content of " + name));
    ASSERT_TRUE(put.ok()) << name << ": " << put.error().describe();
    auto head = store().head(k);
    ASSERT_TRUE(head.ok()) << name << ": " << head.error().describe();
    EXPECT_EQ(head->key, k);
    auto got = store().get(GetQuery{.key = k});
    ASSERT_TRUE(got.ok()) << name << ": " << got.error().describe();
    EXPECT_EQ(got->data, "content of " + name);
    stored.push_back(k);
  }
  std::string slashes = key("double//slash");
  auto put = store().put(slashes, Body::from_string("x"));
  if (GetParam().keys_with_empty_segments) {
    ASSERT_TRUE(put.ok()) << put.error().describe();
    auto got = store().get(GetQuery{.key = slashes});
    ASSERT_TRUE(got.ok()) << got.error().describe();
    EXPECT_EQ(got->data, "x");
    stored.push_back(slashes);
  } else {
    EXPECT_ERROR_KIND(put, GetParam().empty_segment_put_error);
  }
  auto listed = list_everything(store(), ListQuery{.prefix = prefix()});
  ASSERT_TRUE(listed.ok()) << listed.error().describe();
  expect_keys(GetParam(), listed->keys, sorted(stored));
}

TEST_P(StoreConformance, RangedGetsReturnTheBytesAskedFor) {
  std::string data = pattern(1000, 7);
  std::string k = key("ranged.bin");
  ASSERT_TRUE(store().put(k, Body::from_string(data)).ok());
  struct Case {
    ByteRange range;
    std::string expected;
  };
  std::vector<Case> cases{
      {{0, 10}, data.substr(0, 10)},         // head
      {{100, 50}, data.substr(100, 50)},     // middle
      {{900, std::nullopt}, data.substr(900)},  // to EOF
      {{990, 100}, data.substr(990)},        // longer than what is left: clipped
      {{999, 1}, data.substr(999)},          // the last byte
  };
  for (const Case& c : cases) {
    auto got = store().get(GetQuery{.key = k, .range = c.range});
    ASSERT_TRUE(got.ok()) << "offset " << c.range.offset << ": " << got.error().describe();
    EXPECT_EQ(got->data, c.expected) << "offset " << c.range.offset;
    EXPECT_EQ(got->offset, c.range.offset);
    EXPECT_EQ(got->info.size, 1000u);
  }
  EXPECT_ERROR_KIND(store().get(GetQuery{.key = k, .range = ByteRange{1000, 1}}),
                    ErrorKind::kRangeNotSatisfiable);
  EXPECT_ERROR_KIND(store().get(GetQuery{.key = k, .range = ByteRange{5000, std::nullopt}}),
                    ErrorKind::kRangeNotSatisfiable);
}

TEST_P(StoreConformance, HeadDescribesTheObjectPut) {
  std::string k = key("described.txt");
  auto put = store().put(k, Body::from_string("twelve bytes"));
  ASSERT_TRUE(put.ok()) << put.error().describe();
  auto head = store().head(k);
  ASSERT_TRUE(head.ok()) << head.error().describe();
  EXPECT_EQ(head->key, k);
  EXPECT_EQ(head->size, 12u);
  EXPECT_FALSE(head->etag.empty());
  EXPECT_EQ(head->etag, put->etag);
  EXPECT_GT(head->mtime_ns, 0);
  auto again = store().head(k);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->etag, head->etag) << "an untouched object keeps its ETag";
  auto listed = store().list(ListQuery{.prefix = prefix()});
  ASSERT_TRUE(listed.ok()) << listed.error().describe();
  ASSERT_EQ(listed->objects.size(), 1u);
  EXPECT_EQ(listed->objects[0].size, 12u);
  EXPECT_EQ(listed->objects[0].etag, head->etag);
}

TEST_P(StoreConformance, MissingKeysAreNotFound) {
  EXPECT_ERROR_KIND(store().head(key("absent")), ErrorKind::kNotFound);
  EXPECT_ERROR_KIND(store().get(GetQuery{.key = key("absent")}), ErrorKind::kNotFound);
  EXPECT_ERROR_KIND(store().get(GetQuery{.key = key("absent"), .range = ByteRange{0, 1}}),
                    ErrorKind::kNotFound);
  auto empty = store().list(ListQuery{.prefix = key("absent/")});
  ASSERT_TRUE(empty.ok()) << empty.error().describe();
  EXPECT_TRUE(empty->objects.empty());
  EXPECT_TRUE(empty->common_prefixes.empty());
  EXPECT_TRUE(empty->next_token.empty());
}

TEST_P(StoreConformance, PutsAndGetsEmptyTinyAndLargeObjects) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{10 * kMiB}}) {
    SCOPED_TRACE(std::to_string(size) + " bytes");
    std::string data = pattern(size, static_cast<uint32_t>(size));
    std::string k = key("sized-" + std::to_string(size));
    auto put = store().put(k, Body::from_string(data));
    ASSERT_TRUE(put.ok()) << put.error().describe();
    auto got = store().get(GetQuery{.key = k});
    ASSERT_TRUE(got.ok()) << got.error().describe();
    EXPECT_EQ(got->data.size(), size);
    EXPECT_TRUE(got->data == data);
    EXPECT_EQ(got->info.size, size);
    auto head = store().head(k);
    ASSERT_TRUE(head.ok()) << head.error().describe();
    EXPECT_EQ(head->size, size);
  }
  if (GetParam().range_on_empty_object) {
    EXPECT_ERROR_KIND(store().get(GetQuery{.key = key("sized-0"), .range = ByteRange{0, 1}}),
                      ErrorKind::kRangeNotSatisfiable);
  }
}

TEST_P(StoreConformance, PutsAFileRegion) {
  char path[] = "/tmp/shoal-conformance-body-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "0123456789", 10), 10);
  ::close(fd);
  auto put = store().put(key("region"), Body::from_file(path, 3, 5));
  ::unlink(path);
  ASSERT_TRUE(put.ok()) << put.error().describe();
  auto got = store().get(GetQuery{.key = key("region")});
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(got->data, "34567");
}

TEST_P(StoreConformance, OverwriteReplacesContentAndEtag) {
  std::string k = key("overwritten");
  auto first = store().put(k, Body::from_string("first"));
  ASSERT_TRUE(first.ok()) << first.error().describe();
  auto second = store().put(k, Body::from_string("other"));  // same size on purpose
  ASSERT_TRUE(second.ok()) << second.error().describe();
  EXPECT_NE(first->etag, second->etag);
  auto got = store().get(GetQuery{.key = k});
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(got->data, "other");
  EXPECT_EQ(got->info.etag, second->etag);
}

TEST_P(StoreConformance, RemovedObjectsAreGone) {
  std::string k = key("doomed");
  ASSERT_TRUE(store().put(k, Body::from_string("x")).ok());
  Status removed = store().remove(k);
  ASSERT_TRUE(removed.ok()) << removed.error().describe();
  EXPECT_ERROR_KIND(store().head(k), ErrorKind::kNotFound);
  Status again = store().remove(k);
  EXPECT_TRUE(again.ok()) << "deleting an absent key succeeds, as in S3: "
                          << again.error().describe();
}

TEST_P(StoreConformance, MultipartUploadOfThreePartsRoundTrips) {
  std::string k = key("multi.bin");
  std::vector<std::string> parts{pattern(5 * kMiB, 1), pattern(5 * kMiB, 2),
                                 pattern(kMiB + 3, 3)};
  auto upload = store().create_multipart(k);
  ASSERT_TRUE(upload.ok()) << upload.error().describe();
  std::vector<PartInfo> infos;
  for (size_t i = 0; i < parts.size(); ++i) {
    auto part = store().upload_part(k, *upload, static_cast<int>(i + 1),
                                    Body::from_string(parts[i]));
    ASSERT_TRUE(part.ok()) << "part " << i + 1 << ": " << part.error().describe();
    EXPECT_EQ(part->number, static_cast<int>(i + 1));
    EXPECT_EQ(part->size, parts[i].size());
    infos.push_back(*part);
  }
  if (store().async().capabilities().list_parts) {
    SCOPED_TRACE("ListParts");
    expect_parts_listed(GetParam(), store(), k, *upload, infos);
  }
  auto before = list_everything(store(), ListQuery{.prefix = prefix()});
  ASSERT_TRUE(before.ok()) << before.error().describe();
  EXPECT_TRUE(before->keys.empty()) << "an unfinished upload is not an object";

  auto done = store().complete_multipart(k, *upload, infos);
  ASSERT_TRUE(done.ok()) << done.error().describe();
  std::string whole = parts[0] + parts[1] + parts[2];
  auto got = store().get(GetQuery{.key = k});
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(got->data.size(), whole.size());
  EXPECT_TRUE(got->data == whole);
  // The form of a multipart ETag is the store's own (S3: MD5 of the parts' MD5s and "-3";
  // s3rver: MD5 of the whole object; file://: its content tag), so only its consistency is
  // checked: the completion (where it reports one), HEAD and GET report the same one.
  auto head = store().head(k);
  ASSERT_TRUE(head.ok()) << head.error().describe();
  EXPECT_FALSE(head->etag.empty());
  EXPECT_EQ(got->info.etag, head->etag);
  if (GetParam().complete_multipart_reports_etag) {
    EXPECT_EQ(done->etag, head->etag);
  } else {
    EXPECT_TRUE(done->etag.empty()) << "an ETag the server did not give: " << done->etag;
  }
  EXPECT_EQ(head->size, whole.size());
  // Stores that report CRC-64 (OSS) must report the whole object's, combined across parts.
  if (done->crc64) {
    EXPECT_EQ(*done->crc64, crc64(whole));
  }
  if (got->info.crc64) {
    EXPECT_EQ(*got->info.crc64, crc64(whole));
  }
  auto after = list_everything(store(), ListQuery{.prefix = prefix()});
  ASSERT_TRUE(after.ok()) << after.error().describe();
  EXPECT_EQ(after->keys, std::vector<std::string>{k});
}

TEST_P(StoreConformance, AbortedMultipartUploadLeavesNothing) {
  std::string k = key("aborted.bin");
  auto upload = store().create_multipart(k);
  ASSERT_TRUE(upload.ok()) << upload.error().describe();
  ASSERT_TRUE(store().upload_part(k, *upload, 1, Body::from_string("part")).ok());
  Status aborted = store().abort_multipart(k, *upload);
  if (!GetParam().abort_multipart) {
    // The backend has no AbortMultipartUpload (a documented deviation): the call must fail
    // plainly, and the unfinished upload must still not show as an object.
    EXPECT_FALSE(aborted.ok()) << GetParam().name << " claims to have no abort, yet it worked";
    EXPECT_ERROR_KIND(store().head(k), ErrorKind::kNotFound);
    return;
  }
  ASSERT_TRUE(aborted.ok()) << aborted.error().describe();
  EXPECT_ERROR_KIND(store().head(k), ErrorKind::kNotFound);
  auto listed = list_everything(store(), ListQuery{.prefix = prefix()});
  ASSERT_TRUE(listed.ok()) << listed.error().describe();
  EXPECT_TRUE(listed->keys.empty());
  if (store().async().capabilities().list_parts) {
    EXPECT_ERROR_KIND(store().list_parts(k, *upload), ErrorKind::kNotFound);
  }
}

// Holds whether the server honours If-Match or the client checks the reply's ETag itself.
TEST_P(StoreConformance, GetHonoursIfMatch) {
  std::string k = key("pinned");
  auto put = store().put(k, Body::from_string("v1"));
  ASSERT_TRUE(put.ok()) << put.error().describe();
  auto same = store().get(GetQuery{.key = k, .if_match = put->etag});
  ASSERT_TRUE(same.ok()) << same.error().describe();
  EXPECT_EQ(same->data, "v1");
  ASSERT_TRUE(store().put(k, Body::from_string("v2")).ok());
  EXPECT_ERROR_KIND(store().get(GetQuery{.key = k, .if_match = put->etag}),
                    ErrorKind::kPreconditionFailed);
}

TEST_P(StoreConformance, AppendChecksThePosition) {
  std::string k = key("log");
  if (!store().async().capabilities().append) {
    EXPECT_ERROR_KIND(store().append(k, 0, Body::from_string("abc")), ErrorKind::kUnsupported);
    return;
  }
  auto first = store().append(k, 0, Body::from_string("abc"));
  ASSERT_TRUE(first.ok()) << first.error().describe();
  EXPECT_EQ(first->next_append_position, 3u);
  auto second = store().append(k, 3, Body::from_string("de"));
  ASSERT_TRUE(second.ok()) << second.error().describe();
  EXPECT_EQ(second->next_append_position, 5u);
  EXPECT_ERROR_KIND(store().append(k, 3, Body::from_string("x")), ErrorKind::kPreconditionFailed);
  EXPECT_ERROR_KIND(store().append(key("never"), 4, Body::from_string("x")),
                    ErrorKind::kPreconditionFailed);
  EXPECT_ERROR_KIND(store().head(key("never")), ErrorKind::kNotFound);
  auto got = store().get(GetQuery{.key = k});
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(got->data, "abcde");
}

TEST_P(StoreConformance, CompletionsRunOnTheReactorNeverInline) {
  bool called = false;
  store().async().head(key("absent"), [&](Result<ObjectInfo> r) {
    called = true;
    EXPECT_EQ(kind_of(r), ErrorKind::kNotFound);
  });
  EXPECT_FALSE(called) << "the callback ran inside the call";
  EXPECT_TRUE(store().reactor().run_until([&] { return called; }));
}

}  // namespace shoal
