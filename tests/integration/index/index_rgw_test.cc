// Index a prefix of Ceph's RADOS Gateway with the `shoal` binary (parallel listing), export
// the image, and check it against the objects: fsck.erofs, a kernel mount, every file's bytes,
// every directory's listing, and exactly the skipped keys the rules in docs/key-rules.md name.
//
// The same test as index_s3rver_test.cc, on a server that lists like S3: RGW stores the keys
// s3rver cannot (an empty segment, a segment over 255 bytes, "." and ".." segments), so their
// rules are met on a real listing here, and it lists a common prefix that holds only deeper
// prefixes, so this data set has directories with no object of their own.
#include <gtest/gtest.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "common/poll_reactor.h"
#include "store/open_store.h"
#include "support/rgw.h"

#include "support/command.h"
#include "support/files.h"
#include "support/mounts.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

const std::string kShoal = SHOAL_BINARY_DIR "/tools/shoal";

using test::CommandResult;
constexpr auto sh = test::run_command;

std::string content_of(size_t index, size_t size) {
  std::mt19937_64 rng(index);
  std::string data(size, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  return data;
}

Status put_all(PollReactor& loop, ObjectStore& store, const std::map<std::string, std::string>& objects) {
  auto it = objects.begin();
  int in_flight = 0;
  std::optional<Error> failed;
  std::function<void()> pump = [&] {
    while (!failed && in_flight < 8 && it != objects.end()) {
      ++in_flight;
      std::string key = it->first;
      store.put(key, Body::from_string(it->second), [&, key](Result<PutReply> r) {
        --in_flight;
        if (!r.ok() && !failed) failed = std::move(r).error().with_context("put " + key);
        pump();
      });
      ++it;
    }
  };
  pump();
  loop.run_until([&] { return in_flight == 0 && (failed || it == objects.end()); });
  if (failed) return *failed;
  return {};
}

TEST(IndexFromRgw, ExportedImageMatchesTheBucketAndSkipsExactlyWhatTheRulesSay) {
  ASSERT_EQ(::geteuid(), 0u) << "this test mounts EROFS and must run as root";
  ASSERT_EQ(sh("command -v fsck.erofs").exit_code, 0) << "fsck.erofs missing: run scripts/setup";
  auto server = Rgw::start({"idx"});
  ASSERT_TRUE(server.ok()) << server.error().describe();

  // key (under data/) → content. Markers end in '/'.
  std::map<std::string, std::string> objects;
  std::mt19937_64 rng(7);
  for (size_t i = 0; i < 3000; ++i) {
    size_t size = (i % 100 == 0) ? 1 + rng() % 300000 : 1 + rng() % 8192;
    // The "d<n>/s<m>/" directories of an odd n hold no object of their own, only deeper ones.
    std::string dir = "d" + std::to_string(i % 50) + "/";
    if (i % 3 != 0 || i % 2 == 1) dir += "s" + std::to_string(i % 7) + "/";
    if (i % 2 == 1) dir += "t/";
    objects[dir + "f" + std::to_string(i) + ".bin"] = content_of(i, size);
  }
  objects["deep/only/prefixes/below/leaf"] = "leaf";  // deep/, deep/only/ … have no object
  for (std::string name : {"with space.txt", "plus+sign", "per%cent", "ünïcødé-日本.txt", "eq=ual"})
    objects["names/" + name] = content_of(name.size(), 100);
  objects["empty-file"] = "";
  objects["names/empty"] = "";
  objects["marker-dir/"] = "";                   // an empty directory
  objects["marker-full/"] = "";                  // a marker with files below
  objects["marker-full/inside"] = "x";
  objects["conflict"] = "file";                  // both a file and a directory prefix
  objects["conflict/child"] = "child";
  objects["conflict.txt"] = "sorts between";     // '.' < '/': between "conflict" and "conflict/"
  objects[std::string("ctl") + '\x01' + "name"] = "control";
  // Keys RGW holds and a file system cannot: each is skipped, by its rule.
  const std::string long_name(256, 'n');
  objects["empty//segment"] = "e";
  objects["long/" + long_name] = "l";
  objects["long/" + long_name.substr(1)] = "255 bytes is still a name";
  objects["dots/../up"] = "d";
  objects["dots/./here"] = "d";
  objects["dots/kept"] = "k";
  objects["marker-data/"] = "bytes";
  const std::map<std::string, std::string> expected_skips = {
      {"conflict", "file-dir-conflict"},
      {std::string("ctl") + '\x01' + "name", "control-character"},
      {"empty//segment", "empty-segment"},
      {"long/" + long_name, "name-too-long"},
      {"dots/../up", "dot-segment"},
      {"dots/./here", "dot-segment"},
      {"marker-data/", "marker-with-data"},
  };

  PollReactor loop;
  auto uri = ObjectUri{ObjectUri::Scheme::kS3, "idx", "data/"};
  auto store = open_store(uri, (*server)->config(), loop);
  ASSERT_TRUE(store.ok()) << store.error().describe();
  std::map<std::string, std::string> full;
  for (auto& [k, v] : objects) full["data/" + k] = v;
  Status put = put_all(loop, **store, full);
  ASSERT_TRUE(put.ok()) << put.error().describe();

  test::TempDir temp("shoal-index-s3");
  ASSERT_FALSE(temp.path().empty());
  fs::path dir = temp.path(), index = dir / "idx.shix", image = dir / "idx.img", mnt = dir / "mnt";
  ::setenv("AWS_ACCESS_KEY_ID", Rgw::kAccessKey, 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", Rgw::kSecretKey, 1);
  std::string store_args = " --endpoint " + (*server)->endpoint() + " --region " + Rgw::kRegion;

  CommandResult build = sh(kShoal + " index build s3://idx/data/ -o " + index.string() + store_args);
  ASSERT_EQ(build.exit_code, 0) << build.output;
  CommandResult info = sh(kShoal + " index info " + index.string());
  ASSERT_EQ(info.exit_code, 0) << info.output;
  std::map<std::string, std::string> skipped;
  for (size_t pos = 0; (pos = info.output.find("skipped: ", pos)) != std::string::npos;) {
    size_t end = info.output.find('\n', pos);
    std::string line = info.output.substr(pos + 9, end - pos - 9);
    pos = end;
    size_t tab = line.find('\t');
    if (tab == std::string::npos) continue;  // the count line
    skipped[line.substr(tab + 1 + 5)] = line.substr(0, tab);  // strip "data/"
  }
  EXPECT_EQ(skipped, expected_skips);

  CommandResult exported = sh(kShoal + " index export " + index.string() + " " + image.string() + store_args);
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  CommandResult fsck = sh("fsck.erofs " + image.string());
  ASSERT_EQ(fsck.exit_code, 0) << fsck.output;
  fs::create_directories(mnt);
  test::MountGuard guard;  // declared after the TempDir it mounts into, so it is undone first
  CommandResult mount = guard.mount_erofs(image, mnt);
  ASSERT_EQ(mount.exit_code, 0) << mount.output;

  // Expected volume: accepted files and every directory they (or markers) imply.
  std::map<std::string, std::string> files;
  std::set<std::string> dirs;
  for (auto& [key, data] : objects) {
    if (expected_skips.count(key)) continue;
    std::string path = key.ends_with('/') ? key.substr(0, key.size() - 1) : key;
    if (!key.ends_with('/')) files[path] = data;
    else dirs.insert(path);
    for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1))
      dirs.insert(path.substr(0, slash));
  }
  std::map<std::string, std::string> mounted_files;
  std::set<std::string> mounted_dirs;
  for (auto it = fs::recursive_directory_iterator(mnt); it != fs::recursive_directory_iterator(); ++it) {
    std::string rel = fs::relative(it->path(), mnt).string();
    if (it->is_directory()) mounted_dirs.insert(rel);
    else mounted_files[rel] = test::read_file(it->path());
  }
  EXPECT_EQ(mounted_dirs, dirs);
  ASSERT_EQ(mounted_files.size(), files.size());
  for (auto& [path, data] : files) {
    auto it = mounted_files.find(path);
    ASSERT_NE(it, mounted_files.end()) << path << " missing from the volume";
    EXPECT_TRUE(it->second == data) << path << " differs (" << it->second.size() << " vs " << data.size() << " bytes)";
  }
}

}  // namespace
}  // namespace shoal
