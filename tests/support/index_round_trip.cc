#include "support/index_round_trip.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <set>

#include "store/open_store.h"
#include "support/command.h"
#include "support/files.h"
#include "support/mounts.h"
#include "support/temp_dir.h"

namespace shoal::test {
namespace {

namespace fs = std::filesystem;

const std::string kShoal = SHOAL_BINARY_DIR "/tools/shoal";
constexpr auto sh = run_command;

}  // namespace

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

void check_index_round_trip(const IndexServer& server,
                            const std::map<std::string, std::string>& objects,
                            const std::map<std::string, std::string>& expected_skips) {
  PollReactor loop;
  auto uri = ObjectUri{ObjectUri::Scheme::kS3, "idx", "data/"};
  auto store = open_store(uri, server.config, loop);
  ASSERT_TRUE(store.ok()) << store.error().describe();
  std::map<std::string, std::string> full;
  for (auto& [k, v] : objects) full["data/" + k] = v;
  Status put = put_all(loop, **store, full);
  ASSERT_TRUE(put.ok()) << put.error().describe();

  TempDir temp("shoal-index-s3");
  ASSERT_FALSE(temp.path().empty());
  fs::path dir = temp.path(), index = dir / "idx.shix", image = dir / "idx.img", mnt = dir / "mnt";
  ::setenv("AWS_ACCESS_KEY_ID", server.access_key.c_str(), 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", server.secret_key.c_str(), 1);
  std::string store_args = " --endpoint " + server.endpoint + " --region " + server.region;

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
  MountGuard guard;  // declared after the TempDir it mounts into, so it is undone first
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
    else mounted_files[rel] = read_file(it->path());
  }
  EXPECT_EQ(mounted_dirs, dirs);
  ASSERT_EQ(mounted_files.size(), files.size());
  for (auto& [path, data] : files) {
    auto it = mounted_files.find(path);
    ASSERT_NE(it, mounted_files.end()) << path << " missing from the volume";
    EXPECT_TRUE(it->second == data) << path << " differs (" << it->second.size() << " vs " << data.size() << " bytes)";
  }
}

}  // namespace shoal::test
