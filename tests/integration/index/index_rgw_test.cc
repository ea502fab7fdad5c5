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
#include "support/index_round_trip.h"
#include "support/rgw.h"

#include "support/command.h"
#include "support/files.h"
#include "support/mounts.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

constexpr auto sh = test::run_command;
using test::content_of;

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

  test::check_index_round_trip({(*server)->config(), (*server)->endpoint(), Rgw::kRegion,
                                Rgw::kAccessKey, Rgw::kSecretKey},
                               objects, expected_skips);
}

}  // namespace
}  // namespace shoal
