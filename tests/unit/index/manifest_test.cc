#include "index/manifest.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "support/temp_dir.h"

#include <zlib.h>

#include <thread>
#include <vector>

namespace shoal {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kJan2 = 1767323045;  // 2026-01-02T03:04:05Z

struct Row {
  std::string key;
  uint64_t size;
  std::string etag;
  int64_t mtime_ns;
  uint64_t line;
  bool operator==(const Row&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Row& r) {
  return os << "{" << r.key << ", " << r.size << ", " << r.etag << ", " << r.mtime_ns << ", line "
            << r.line << "}";
}

struct Parsed {
  std::vector<Row> rows;
  std::vector<std::string> malformed;
  Result<ManifestStats> stats = ManifestStats{};
};

Parsed parse(std::string_view text, bool keep_going = false) {
  Parsed p;
  auto sink = [&](const ManifestEntry& e) -> Status {
    p.rows.push_back({std::string(e.key), e.size, std::string(e.etag), e.mtime_ns, e.line});
    return {};
  };
  MalformedSink on_malformed;
  if (keep_going) on_malformed = [&](const Error& e) { p.malformed.push_back(e.message); };
  p.stats = parse_manifest(text, "m.csv", sink, on_malformed);
  return p;
}

// The error of a manifest whose only problem is on `line`.
void expect_malformed(std::string_view text, uint64_t line, std::string_view words) {
  SCOPED_TRACE(std::string(text));
  Parsed p = parse(text);
  ASSERT_FALSE(p.stats.ok());
  EXPECT_EQ(p.stats.error().kind, ErrorKind::kInvalidArgument);
  const std::string& msg = p.stats.error().message;
  std::string where = "manifest m.csv line " + std::to_string(line) + ":";
  EXPECT_NE(msg.find(where), std::string::npos) << msg;
  EXPECT_NE(msg.find(words), std::string::npos) << msg;
}

TEST(Manifest, PlainLinesWithoutHeader) {
  Parsed p = parse(
      "train/a.jpg,100,abc,2026-01-02T03:04:05.000Z\n"
      "train/b.jpg,0,def,2026-01-02T03:04:05Z\n");
  ASSERT_TRUE(p.stats.ok()) << p.stats.error().describe();
  EXPECT_FALSE(p.stats->had_header);
  EXPECT_EQ(p.stats->entries, 2u);
  EXPECT_EQ(p.rows, (std::vector<Row>{{"train/a.jpg", 100, "abc", kJan2 * kSecond, 1},
                                      {"train/b.jpg", 0, "def", kJan2 * kSecond, 2}}));
}

TEST(Manifest, CrlfLinesBlankLinesAndNoFinalNewline) {
  Parsed p = parse("a,1,e,2026-01-02T03:04:05Z\r\n\r\n\nb,2,e,2026-01-02T03:04:05Z");
  ASSERT_TRUE(p.stats.ok()) << p.stats.error().describe();
  ASSERT_EQ(p.rows.size(), 2u);
  EXPECT_EQ(p.rows[0].key, "a");
  EXPECT_EQ(p.rows[1].key, "b");
  EXPECT_EQ(p.rows[1].line, 4u);
  EXPECT_EQ(parse("").stats->entries, 0u);
}

TEST(Manifest, HeaderNamesTheColumns) {
  Parsed p = parse("key,size,etag,mtime\r\na,1,e,2026-01-02T03:04:05Z\r\n");
  ASSERT_TRUE(p.stats.ok()) << p.stats.error().describe();
  EXPECT_TRUE(p.stats->had_header);
  EXPECT_EQ(p.rows, (std::vector<Row>{{"a", 1, "e", kJan2 * kSecond, 2}}));

  p = parse("Bucket,MTime,Key,ETag,Size,StorageClass\nb,2026-01-02T03:04:05Z,k,\"x\",7,STANDARD\n");
  ASSERT_TRUE(p.stats.ok()) << p.stats.error().describe();
  EXPECT_EQ(p.rows, (std::vector<Row>{{"k", 7, "x", kJan2 * kSecond, 2}}));
}

TEST(Manifest, QuotedFieldsWithCommasNewlinesAndQuotes) {
  Parsed p = parse(
      "\"dir/a,b.jpg\",1,\"e1\",2026-01-02T03:04:05Z\n"
      "\"dir/two\nlines\",2,e2,2026-01-02T03:04:05Z\n"
      "\"say \"\"hi\"\".txt\",3,\"\"\"quoted-etag\"\"\",2026-01-02T03:04:05Z\n"
      "\"\",4,e4,2026-01-02T03:04:05Z\n");
  EXPECT_FALSE(p.stats.ok()) << "an empty key is malformed";
  ASSERT_EQ(p.rows.size(), 3u);
  EXPECT_EQ(p.rows[0], (Row{"dir/a,b.jpg", 1, "e1", kJan2 * kSecond, 1}));
  EXPECT_EQ(p.rows[1], (Row{"dir/two\nlines", 2, "e2", kJan2 * kSecond, 2}));
  EXPECT_EQ(p.rows[2], (Row{"say \"hi\".txt", 3, "quoted-etag", kJan2 * kSecond, 4}));
  EXPECT_NE(p.stats.error().message.find("line 5"), std::string::npos)
      << "line numbers count the line break inside quotes: " << p.stats.error().message;
}

TEST(Manifest, EscapedFieldsStayIntactAcrossTheRecord) {
  // Several escaped fields in one record share the scratch buffer.
  std::string big(5000, 'k');
  std::string text = "\"" + big + "\"\"x\",1,\"\"\"" + big + "\"\"\",2026-01-02T03:04:05Z\n";
  Parsed p = parse(text);
  ASSERT_TRUE(p.stats.ok()) << p.stats.error().describe();
  ASSERT_EQ(p.rows.size(), 1u);
  EXPECT_EQ(p.rows[0].key, big + "\"x");
  EXPECT_EQ(p.rows[0].etag, big);
}

TEST(ManifestMtime, AcceptedForms) {
  struct Case {
    const char* text;
    int64_t ns;
  };
  for (const auto& c : std::vector<Case>{
           {"2026-01-02T03:04:05.000Z", kJan2 * kSecond},
           {"2026-01-02T03:04:05Z", kJan2 * kSecond},
           {"2026-01-02T03:04:05", kJan2 * kSecond},
           {"2026-01-02t03:04:05z", kJan2 * kSecond},
           {"2026-01-02T03:04:05.5Z", kJan2 * kSecond + 500'000'000},
           {"2026-01-02T03:04:05.123456789Z", kJan2 * kSecond + 123'456'789},
           {"2026-01-02T03:04:05.1234567891Z", kJan2 * kSecond + 123'456'789},
           {"2026-01-02T11:04:05+08:00", kJan2 * kSecond},
           {"2026-01-01T22:04:05-0500", kJan2 * kSecond},
           {"1970-01-01T00:00:00Z", 0},
           {"1969-12-31T23:59:59Z", -kSecond},
           {"2024-02-29T00:00:00Z", 1709164800 * kSecond},
       }) {
    auto r = parse_manifest_mtime(c.text);
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.error().describe();
    EXPECT_EQ(*r, c.ns) << c.text;
  }
}

TEST(ManifestMtime, RejectedForms) {
  for (const char* text :
       {"", "2026", "2026-01-02", "2026-01-02 03:04:05Z", "2026-1-02T03:04:05Z",
        "2026-01-02T03:04Z", "2026-01-02T03:04:05.Z", "2026-01-02T03:04:05ZZ",
        "2026-01-02T03:04:05+8", "2026-01-02T03:04:05 ", "2026-02-30T00:00:00Z",
        "2025-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-02T24:00:00Z",
        "2026-01-02T03:60:00Z", "2026-01-02T03:04:60Z", "9999-01-01T00:00:00Z",
        "1000-01-01T00:00:00Z", "２０２６-01-02T03:04:05Z"}) {
    auto r = parse_manifest_mtime(text);
    ASSERT_FALSE(r.ok()) << "'" << text << "' accepted as " << *r;
    EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
  }
}

TEST(Manifest, EachMalformedLineIsNamed) {
  const std::string good = "a,1,e,2026-01-02T03:04:05Z\n";
  expect_malformed(good + "b,1,e\n", 2, "expected 4 fields, found 3");
  expect_malformed(good + "b,1,e,2026-01-02T03:04:05Z,extra\n", 2, "found 5");
  expect_malformed(good + "b,12x,e,2026-01-02T03:04:05Z\n", 2, "size '12x'");
  expect_malformed(good + "b,-1,e,2026-01-02T03:04:05Z\n", 2, "size '-1'");
  expect_malformed(good + "b,,e,2026-01-02T03:04:05Z\n", 2, "size ''");
  expect_malformed(good + "b,18446744073709551616,e,2026-01-02T03:04:05Z\n", 2, "size");
  expect_malformed(good + ",1,e,2026-01-02T03:04:05Z\n", 2, "key is empty");
  expect_malformed(good + "b,1,e,yesterday\n", 2, "mtime 'yesterday'");
  expect_malformed(good + good + "\"b,1,e,2026-01-02T03:04:05Z\n", 3, "never closed");
  expect_malformed(good + "b\"c,1,e,2026-01-02T03:04:05Z\n", 2, "quote inside an unquoted");
  expect_malformed(good + "\"b\"c,1,e,2026-01-02T03:04:05Z\n", 2, "after a closing quote");
  expect_malformed(good + "b\rc,1,e,2026-01-02T03:04:05Z\n", 2, "carriage return");
  expect_malformed("key,size,etag\na,1,e\n", 1, "no \"mtime\" column");
  expect_malformed(good + "key,size,etag,mtime\n", 2, "size 'size'");  // a header only first
}

TEST(Manifest, MalformedLinesCanBeCollectedWhileParsingGoesOn) {
  Parsed p = parse(
      "a,1,e,2026-01-02T03:04:05Z\n"
      "b,x,e,2026-01-02T03:04:05Z\n"
      "c,3,e,2026-01-02T03:04:05Z\n"
      "d\"d,4,e,2026-01-02T03:04:05Z\n"
      "e,5,e,2026-01-02T03:04:05Z\n",
      /*keep_going=*/true);
  ASSERT_TRUE(p.stats.ok()) << p.stats.error().describe();
  EXPECT_EQ(p.stats->entries, 3u);
  EXPECT_EQ(p.stats->malformed, 2u);
  ASSERT_EQ(p.malformed.size(), 2u);
  EXPECT_NE(p.malformed[0].find("line 2:"), std::string::npos) << p.malformed[0];
  EXPECT_NE(p.malformed[1].find("line 4:"), std::string::npos) << p.malformed[1];
  ASSERT_EQ(p.rows.size(), 3u);
  EXPECT_EQ(p.rows[2], (Row{"e", 5, "e", kJan2 * kSecond, 5}));
}

TEST(Manifest, SinkErrorStopsTheParse) {
  int calls = 0;
  auto r = parse_manifest("a,1,e,2026-01-02T03:04:05Z\nb,2,e,2026-01-02T03:04:05Z\n", "m.csv",
                          [&](const ManifestEntry&) -> Status {
                            ++calls;
                            return Error(ErrorKind::kNoSpace, "budget");
                          });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kNoSpace);
  EXPECT_EQ(calls, 1);
}

class ManifestFileTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(temp_.path().empty()) << std::strerror(errno); }
  test::TempDir temp_{"shoal-manifest"};
  fs::path dir_{temp_.path()};
};

TEST_F(ManifestFileTest, ParsesAMappedFile) {
  fs::path path = dir_ / "inventory.csv";
  {
    std::ofstream out(path, std::ios::binary);
    out << "key,size,etag,mtime\n";
    for (int i = 0; i < 100000; ++i) {
      out << "train/n" << i % 1000 << "/img_" << i << ".JPEG," << 20000 + i << ",\"etag" << i
          << "\",2026-01-02T03:04:05.000Z\n";
    }
  }
  auto file = ManifestFile::open(path.string());
  ASSERT_TRUE(file.ok()) << file.error().describe();
  uint64_t bytes = 0, n = 0;
  bool etags_unquoted = true;
  auto stats = file->parse([&](const ManifestEntry& e) -> Status {
    bytes += e.size;
    etags_unquoted = etags_unquoted && e.etag == "etag" + std::to_string(n);
    ++n;
    return {};
  });
  ASSERT_TRUE(stats.ok()) << stats.error().describe();
  EXPECT_EQ(stats->entries, 100000u);
  EXPECT_TRUE(etags_unquoted);
  EXPECT_EQ(bytes, 100000ull * 20000 + 99999ull * 100000 / 2);

  ManifestFile moved = std::move(file).value();
  EXPECT_EQ(moved.text().substr(0, 3), "key");
}

TEST_F(ManifestFileTest, EmptyAndMissingFiles) {
  fs::path empty = dir_ / "empty.csv";
  std::ofstream(empty).close();
  auto file = ManifestFile::open(empty.string());
  ASSERT_TRUE(file.ok()) << file.error().describe();
  auto stats = file->parse([](const ManifestEntry&) -> Status { return {}; });
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->entries, 0u);

  auto missing = ManifestFile::open((dir_ / "nope.csv").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
  EXPECT_NE(missing.error().message.find("nope.csv"), std::string::npos);
}

TEST_F(ManifestFileTest, ErrorsNameTheFileAndLine) {
  fs::path path = dir_ / "bad.csv";
  std::ofstream(path) << "a,1,e,2026-01-02T03:04:05Z\nb,1,e,nope\n";
  auto file = ManifestFile::open(path.string());
  ASSERT_TRUE(file.ok());
  auto stats = file->parse([](const ManifestEntry&) -> Status { return {}; });
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.error().message.find(path.string() + " line 2:"), std::string::npos)
      << stats.error().message;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string manifest_text(int lines) {
  std::string t = "key,size,etag,mtime\n";
  for (int i = 0; i < lines; ++i)
    t += "d/f" + std::to_string(i) + ".bin," + std::to_string(i) + ",\"e" + std::to_string(i) +
         "\",2026-01-02T03:04:05Z\n";
  return t;
}

// Writes `parts` as consecutive gzip members (what `cat a.gz b.gz` makes).
void write_gzip(const fs::path& path, const std::vector<std::string>& parts) {
  fs::remove(path);
  for (const std::string& part : parts) {
    gzFile gz = gzopen(path.c_str(), "ab");
    ASSERT_NE(gz, nullptr);
    ASSERT_EQ(gzwrite(gz, part.data(), static_cast<unsigned>(part.size())),
              static_cast<int>(part.size()));
    ASSERT_EQ(gzclose(gz), Z_OK);
  }
}

TEST_F(ManifestFileTest, GzipAndPipedManifestsReadLikeThePlainFile) {
  const std::string text = manifest_text(20000);
  fs::path gz = dir_ / "inventory.csv.gz";
  ASSERT_NO_FATAL_FAILURE(write_gzip(gz, {text.substr(0, 300001), text.substr(300001)}));
  auto from_gzip = ManifestFile::open(gz.string());
  ASSERT_TRUE(from_gzip.ok()) << from_gzip.error().describe();
  EXPECT_TRUE(from_gzip->text() == text) << "the two gzip members inflated differently";

  // A pipe, fed in small writes by another thread (as `cat x | shoal index build
  // --from-manifest /dev/stdin` does); gzip through the pipe too.
  for (bool compressed : {false, true}) {
    std::string bytes = compressed ? read_all(gz) : text;
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::thread writer([&, w = fds[1]] {
      for (size_t at = 0; at < bytes.size();) {
        size_t n = std::min<size_t>(at == 0 ? 1 : 7000, bytes.size() - at);  // the magic split
        if (::write(w, bytes.data() + at, n) != static_cast<ssize_t>(n)) break;
        at += n;
      }
      ::close(w);
    });
    auto piped = ManifestFile::open("/proc/self/fd/" + std::to_string(fds[0]));
    writer.join();
    ::close(fds[0]);
    ASSERT_TRUE(piped.ok()) << piped.error().describe();
    EXPECT_TRUE(piped->text() == text) << (compressed ? "gzip" : "plain") << " through a pipe";
  }
}

TEST_F(ManifestFileTest, ATruncatedOrDamagedGzipIsRefusedNeverReadShort) {
  fs::path gz = dir_ / "inventory.csv.gz";
  ASSERT_NO_FATAL_FAILURE(write_gzip(gz, {manifest_text(20000)}));
  std::string whole = read_all(gz);

  fs::path cut = dir_ / "cut.csv.gz";
  std::ofstream(cut, std::ios::binary) << whole.substr(0, whole.size() / 2);
  auto truncated = ManifestFile::open(cut.string());
  ASSERT_FALSE(truncated.ok()) << "a truncated gzip manifest was read";
  EXPECT_EQ(truncated.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(truncated.error().message.find("truncated"), std::string::npos)
      << truncated.error().message;

  fs::path damaged = dir_ / "damaged.csv.gz";
  std::string bad = whole;
  for (size_t i = bad.size() / 3; i < bad.size() / 3 + 64; ++i) bad[i] = static_cast<char>(~bad[i]);
  std::ofstream(damaged, std::ios::binary) << bad;
  auto corrupt = ManifestFile::open(damaged.string());
  ASSERT_FALSE(corrupt.ok()) << "a damaged gzip manifest was read";
  EXPECT_NE(corrupt.error().message.find(damaged.string()), std::string::npos)
      << corrupt.error().message;
}

}  // namespace
}  // namespace shoal
