// `shoal index build --from-inventory`: inventory reports in the S3 Inventory and the OSS
// inventory layouts, generated here from a real listing of s3rver (several gzip data files,
// keys URL-encoded with spaces, '+', '%' and unicode, rows of another bucket, older versions
// and delete markers, objects outside the indexed prefix), read from a local copy and from the
// report's bucket; the index must equal the one built by listing the same prefix. Damaged
// reports — a wrong MD5, a truncated gzip, a missing data file, another bucket's report, a
// malformed row — fail the build with a message naming what is wrong and write no index.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/poll_reactor.h"
#include "index/index_file.h"
#include "store/blocking_store.h"
#include "store/hash.h"
#include "store/open_store.h"
#include "store/url_encode.h"
#include "support/command.h"
#include "support/index_round_trip.h"
#include "support/s3rver.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;
constexpr auto sh = test::run_command;
const std::string kShoal = SHOAL_BINARY_DIR "/tools/shoal";

std::string gzip(std::string_view data) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Form-style URL encoding, as the reports write keys: a space is '+', a '+' is %2B.
std::string report_key(const std::string& key) {
  std::string encoded = uri_encode(key, false), out;
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded.compare(i, 3, "%20") == 0) {
      out += '+';
      i += 2;
    } else {
      out += encoded[i];
    }
  }
  return out;
}

std::string iso8601(int64_t ns) {
  std::time_t s = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
  return buf;
}

void write_file(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

using ObjectSet = std::set<std::tuple<std::string, uint64_t, std::string>>;

// What one set holds and the other does not, for a failure message.
std::string difference(const ObjectSet& got, const ObjectSet& want) {
  std::string out;
  for (const auto& o : got)
    if (!want.count(o)) out += "  extra: " + std::get<0>(o) + " " + std::to_string(std::get<1>(o)) + " " + std::get<2>(o) + "\n";
  for (const auto& o : want)
    if (!got.count(o)) out += "  missing: " + std::get<0>(o) + " " + std::to_string(std::get<1>(o)) + " " + std::get<2>(o) + "\n";
  return out;
}

ObjectSet objects_of(const fs::path& index) {
  auto file = index::IndexFile::open(index.string());
  EXPECT_TRUE(file.ok()) << file.error().describe();
  ObjectSet out;
  if (!file.ok()) return out;
  // The volume's files: objects with data on the device. (A manifest's rows outside the prefix
  // stay in the object table, counted as outside-prefix, with no extent.)
  for (const index::Extent& e : file->extents()) {
    const index::ObjectRecord& r = file->objects()[e.object];
    out.emplace(std::string(file->key(r)), r.size, std::string(file->etag(r)));
  }
  return out;
}

enum class Layout { kS3, kOss };

class InventoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = S3rver::start({"src", "inv"});
    ASSERT_TRUE(server.ok()) << server.error().describe();
    server_ = std::move(server).value();
    ::setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
    store_args_ = " --endpoint " + server_->endpoint() + " --region us-east-1";

    std::map<std::string, std::string> objects;
    for (int i = 0; i < 300; ++i)
      objects["train/d" + std::to_string(i % 7) + "/f" + std::to_string(i) + ".bin"] =
          test::content_of(static_cast<size_t>(i), 1 + static_cast<size_t>(i) * 37 % 5000);
    for (std::string name : {"with space.txt", "plus+sign", "per%cent", "ünïcødé-日本.txt",
                             "a+b c%2Bd"})
      objects["train/names/" + name] = test::content_of(name.size(), 100);
    objects["other/outside.bin"] = "outside the indexed prefix";
    PollReactor loop;
    auto store = open_store(ObjectUri{ObjectUri::Scheme::kS3, "src", ""}, server_->config(), loop);
    ASSERT_TRUE(store.ok()) << store.error().describe();
    ASSERT_TRUE(test::put_all(loop, **store, objects).ok());

    auto src = BlockingStore::open(ObjectUri{ObjectUri::Scheme::kS3, "src", ""}, server_->config());
    ASSERT_TRUE(src.ok()) << src.error().describe();
    ASSERT_TRUE(src->list_all(ListQuery{}, [&](const ListPage& page) -> Status {
      for (const ObjectInfo& o : page.objects) listed_.push_back(o);
      return {};
    }).ok());
    ASSERT_EQ(listed_.size(), objects.size());

    CommandResult by_listing = build("", listed_index_);
    ASSERT_EQ(by_listing.exit_code, 0) << by_listing.output;
  }

  using CommandResult = test::CommandResult;

  CommandResult build(const std::string& inventory, const fs::path& out) {
    return sh(kShoal + " index build s3://src/train/ -o " + out.string() + store_args_ +
              (inventory.empty() ? "" : " --from-inventory '" + inventory + "'"));
  }

  // The report's rows for bucket "src" in `layout`, plus rows the reader must skip: another
  // bucket's, and (S3, versioned) an older version and a delete marker.
  std::vector<std::string> rows(Layout layout) const {
    std::vector<std::string> out;
    auto q = [](const std::string& s) { return "\"" + s + "\""; };
    for (const ObjectInfo& o : listed_) {
      std::string k = report_key(o.key), size = std::to_string(o.size), m = iso8601(o.mtime_ns);
      if (layout == Layout::kS3) {
        out.push_back(q("src") + "," + q(k) + "," + q(size) + "," + q(m) + "," + q(o.etag) +
                      ",\"STANDARD\",\"true\",\"false\"");
      } else {
        out.push_back(q("src") + "," + q(k) + "," + q(size) + ",\"Standard\"," + q(m) + "," +
                      q(o.etag) + ",\"false\",\"false\"");
      }
    }
    if (layout == Layout::kS3) {
      out.push_back(R"("src","train/old-version.bin","5","2020-01-01T00:00:00.000Z","abc","STANDARD","false","false")");
      out.push_back(R"("src","train/deleted.bin","0","2020-01-01T00:00:00.000Z","","STANDARD","true","true")");
      out.push_back(R"("elsewhere","train/x.bin","5","2020-01-01T00:00:00.000Z","abc","STANDARD","true","false")");
    } else {
      out.push_back(R"("elsewhere","train/x.bin","5","Standard","2020-01-01T00:00:00.000Z","abc","false","false")");
    }
    return out;
  }

  struct Report {
    std::string manifest_key;              // in bucket "inv"
    std::map<std::string, std::string> files;  // key → bytes, the manifest among them
  };

  // A report in `layout`, its rows spread over three gzip data files. `edit` may change the
  // data files (by index) before the manifest records their sizes and MD5s.
  Report make_report(Layout layout,
                     const std::function<void(std::vector<std::string>&)>& edit = nullptr) const {
    std::vector<std::string> lines = rows(layout);
    std::vector<std::string> data(3);
    for (size_t i = 0; i < lines.size(); ++i) data[i % 3] += lines[i] + "\n";
    for (std::string& d : data) d = gzip(d);
    if (edit) edit(data);
    std::string base = layout == Layout::kS3 ? "reports/src/daily/" : "inv-prefix/src/daily/";
    Report r;
    nlohmann::json files = nlohmann::json::array();
    for (size_t i = 0; i < data.size(); ++i) {
      std::string key = base + "data/part-" + std::to_string(i) + ".csv.gz";
      std::string md5 = hex_encode(shoal::md5(data[i]));
      if (layout == Layout::kOss)
        for (char& c : md5) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      files.push_back({{"key", key}, {"size", data[i].size()}, {"MD5checksum", md5}});
      r.files[key] = data[i];
    }
    nlohmann::json manifest = {
        {"sourceBucket", "src"},
        {"destinationBucket", layout == Layout::kS3 ? "arn:aws:s3:::inv" : "inv"},
        {"version", layout == Layout::kS3 ? "2016-11-30" : "2019-09-01"},
        {"creationTimestamp", "1733270400000"},
        {"fileFormat", "CSV"},
        {"fileSchema",
         layout == Layout::kS3
             ? "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass, IsLatest, IsDeleteMarker"
             : "Bucket, Key, Size, StorageClass, LastModifiedDate, ETag, IsMultipartUploaded, "
               "EncryptionStatus"},
        {"files", files}};
    r.manifest_key = base + "2026-12-04T00-00Z/manifest.json";
    r.files[r.manifest_key] = manifest.dump(2);
    return r;
  }

  // The report copied to disk under dir_/copy, the way `aws s3 sync s3://inv/ copy/` lays it out.
  fs::path write_local(const Report& r, const std::string& name) const {
    fs::path root = dir_ / name;
    for (const auto& [key, bytes] : r.files) write_file(root / key, bytes);
    return root / r.manifest_key;
  }

  void upload(const Report& r) {
    auto inv = BlockingStore::open(ObjectUri{ObjectUri::Scheme::kS3, "inv", ""}, server_->config());
    ASSERT_TRUE(inv.ok()) << inv.error().describe();
    for (const auto& [key, bytes] : r.files)
      ASSERT_TRUE(inv->put(key, Body::from_string(bytes)).ok()) << key;
  }

  std::unique_ptr<S3rver> server_;
  std::string store_args_;
  std::vector<ObjectInfo> listed_;
  test::TempDir temp_{"shoal-inventory"};
  fs::path dir_{temp_.path()};
  fs::path listed_index_{dir_ / "listed.shix"};
};

TEST_F(InventoryTest, S3AndOssReportsIndexExactlyWhatTheListingIndexes) {
  ObjectSet expected = objects_of(listed_index_);
  ASSERT_EQ(expected.size(), listed_.size() - 1) << "the listing index holds train/ only";
  for (Layout layout : {Layout::kS3, Layout::kOss}) {
    const char* what = layout == Layout::kS3 ? "S3 Inventory" : "OSS inventory";
    Report report = make_report(layout);
    fs::path local = write_local(report, layout == Layout::kS3 ? "s3-copy" : "oss-copy");
    fs::path from_local = dir_ / "from-local.shix";
    CommandResult built = build(local.string(), from_local);
    ASSERT_EQ(built.exit_code, 0) << what << ": " << built.output;
    ObjectSet got = objects_of(from_local);
    EXPECT_TRUE(got == expected) << what << " from a local copy:\n" << difference(got, expected);

    ASSERT_NO_FATAL_FAILURE(upload(report));
    fs::path from_store = dir_ / "from-store.shix";
    built = build("s3://inv/" + report.manifest_key, from_store);
    ASSERT_EQ(built.exit_code, 0) << what << ": " << built.output;
    got = objects_of(from_store);
    EXPECT_TRUE(got == expected) << what << " from the report's bucket:\n" << difference(got, expected);
    fs::remove(from_local);
    fs::remove(from_store);
  }
}

TEST_F(InventoryTest, DamagedReportsFailTheBuildAndWriteNoIndex) {
  struct Case {
    const char* name;
    std::function<void(Report&)> damage;
    const char* message;
  };
  const std::string manifest_key = make_report(Layout::kS3).manifest_key;
  auto edit_manifest = [&](Report& r, const std::function<void(nlohmann::json&)>& f) {
    nlohmann::json m = nlohmann::json::parse(r.files[r.manifest_key]);
    f(m);
    r.files[r.manifest_key] = m.dump();
  };
  std::vector<Case> cases = {
      {"a data file that does not match its MD5",
       [](Report& r) {
         for (auto& [key, bytes] : r.files)
           if (key.find("part-1") != std::string::npos) bytes[bytes.size() / 2] ^= 0x55;
       },
       "MD5checksum"},
      {"a truncated gzip data file (its MD5 recorded as truncated)",
       [&](Report& r) {
         edit_manifest(r, [&](nlohmann::json& m) {
           for (auto& f : m["files"]) {
             std::string& bytes = r.files[f["key"].get<std::string>()];
             if (f["key"].get<std::string>().find("part-2") == std::string::npos) continue;
             bytes.resize(bytes.size() / 2);
             f["size"] = bytes.size();
             f["MD5checksum"] = hex_encode(shoal::md5(bytes));
           }
         });
       },
       "truncated gzip"},
      {"a missing data file",
       [](Report& r) {
         for (auto it = r.files.begin(); it != r.files.end(); ++it)
           if (it->first.find("part-0") != std::string::npos) {
             r.files.erase(it);
             break;
           }
       },
       "part-0.csv.gz"},
      {"another bucket's report",
       [&](Report& r) { edit_manifest(r, [](nlohmann::json& m) { m["sourceBucket"] = "elsewhere"; }); },
       "reports bucket elsewhere"},
      {"a schema without ETag",
       [&](Report& r) {
         edit_manifest(r, [](nlohmann::json& m) { m["fileSchema"] = "Bucket, Key, Size, LastModifiedDate"; });
       },
       "no etag column"},
      {"a row with a field too few",
       [&](Report& r) {
         std::string bad = gzip("\"src\",\"train/short.bin\",\"5\"\n");
         edit_manifest(r, [&](nlohmann::json& m) {
           m["files"].push_back({{"key", "reports/src/daily/data/bad.csv.gz"},
                                 {"size", bad.size()},
                                 {"MD5checksum", hex_encode(shoal::md5(bad))}});
         });
         r.files["reports/src/daily/data/bad.csv.gz"] = bad;
       },
       "bad.csv.gz row 1"},
  };
  int n = 0;
  for (const Case& c : cases) {
    Report report = make_report(Layout::kS3);
    c.damage(report);
    fs::path manifest = write_local(report, "damaged-" + std::to_string(n++));
    fs::path out = dir_ / "damaged.shix";
    CommandResult built = build(manifest.string(), out);
    EXPECT_NE(built.exit_code, 0) << c.name << " was indexed:\n" << built.output;
    EXPECT_NE(built.output.find(c.message), std::string::npos) << c.name << ":\n" << built.output;
    EXPECT_FALSE(fs::exists(out)) << c.name << " left an index behind";
  }
  EXPECT_EQ(manifest_key, make_report(Layout::kS3).manifest_key);
}

}  // namespace
}  // namespace shoal
