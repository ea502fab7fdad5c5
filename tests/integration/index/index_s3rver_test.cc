// Index a real S3 server's prefix with the `shoal` binary (parallel listing), export the image,
// and check it against the objects: fsck.erofs, a kernel mount, every file's bytes, every
// directory's listing, and exactly the skipped keys the rules in docs/key-rules.md name.
//
// s3rver deviations met here (DESIGN.md): a PUT of a key with an empty segment ("a//b") is
// refused with 404, and a key with a segment over 255 bytes crashes it (it stores objects as
// files), and it resolves "." and ".." segments in the request path, so those rules are covered
// by the unit tests (tests/unit/index/keys_test.cc) and the file:// test. Its delimiter listing
// also leaves out a common prefix that holds only deeper prefixes and no object of its own
// (S3 lists it), so every directory of this data set holds at least one object.
#include <gtest/gtest.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "store/open_store.h"
#include "support/index_round_trip.h"
#include "support/s3rver.h"

#include "support/command.h"
#include "support/files.h"
#include "support/mounts.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

constexpr auto sh = test::run_command;
using test::content_of;

TEST(IndexFromS3rver, ExportedImageMatchesTheBucketAndSkipsExactlyWhatTheRulesSay) {
  ASSERT_EQ(::geteuid(), 0u) << "this test mounts EROFS and must run as root";
  ASSERT_EQ(sh("command -v fsck.erofs").exit_code, 0) << "fsck.erofs missing: run scripts/setup";
  auto server = S3rver::start({"idx"});
  ASSERT_TRUE(server.ok()) << server.error().describe();

  // key (under data/) → content. Markers end in '/'.
  std::map<std::string, std::string> objects;
  std::mt19937_64 rng(7);
  for (size_t i = 0; i < 10000; ++i) {
    size_t size = (i % 100 == 0) ? 1 + rng() % 300000 : 1 + rng() % 8192;
    // Every directory also holds objects of its own (see the s3rver note above).
    std::string dir = "d" + std::to_string(i % 50) + "/";
    if (i % 3 != 0) dir += "s" + std::to_string(i % 7) + "/";
    objects[dir + "f" + std::to_string(i) + ".bin"] = content_of(i, size);
  }
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
  const std::map<std::string, std::string> expected_skips = {
      {"conflict", "file-dir-conflict"},
      {std::string("ctl") + '\x01' + "name", "control-character"},
  };

  test::check_index_round_trip(
      {(*server)->config(), (*server)->endpoint(), "us-east-1", "S3RVER", "S3RVER"}, objects,
      expected_skips);
}

}  // namespace
}  // namespace shoal
