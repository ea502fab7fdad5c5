// shoald with the engine behind the NBD frontend, checked with independent clients: nbdinfo
// sees the size and the read-only flag, and nbdcopy of the export equals `shoal index
// export`'s image byte for byte. Then SIGTERM: exit 0, socket gone.
#include <nlohmann/json.hpp>

#include "integration/daemon/mount_harness.h"

namespace shoal::mount_test {
namespace {

class MountNbdTest : public MountTest {
 protected:
  void SetUp() override {
    MountTest::SetUp();
    if (HasFatalFailure()) return;
    for (const char* tool : {"nbdinfo", "nbdcopy"})
      ASSERT_EQ(run(std::string("command -v ") + tool).exit_code, 0)
          << tool << " not found: install libnbd-bin (scripts/setup)";
    write_tree(make_tree(), source_);
  }
};

TEST_F(MountNbdTest, ExportEqualsTheExportedImage) {
  std::string index = dir_ + "/volume.shix";
  CommandResult built = shoal("index build file://" + source_ + " -o " + index);
  ASSERT_EQ(built.exit_code, 0) << built.output;
  std::string image = dir_ + "/volume.img";
  CommandResult exported = shoal("index export " + index + " " + image);
  ASSERT_EQ(exported.exit_code, 0) << exported.output;

  std::string socket = dir_ + "/nbd.sock";
  Spawned daemon = spawn_shoald({"--index", index, "--frontend", "nbd", "--socket", socket,
                                 "--cache-memory", "64MiB"},
                                dir_ + "/shoald.log");
  ASSERT_EQ(daemon.ready, "ready") << read_file(dir_ + "/shoald.log");
  std::string uri = "'nbd+unix:///shoal?socket=" + socket + "'";

  CommandResult info = run("nbdinfo --json " + uri);
  ASSERT_EQ(info.exit_code, 0) << info.output;
  nlohmann::json parsed = nlohmann::json::parse(info.output, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << info.output;
  const nlohmann::json& export_info = parsed["exports"][0];
  EXPECT_EQ(export_info["export-size"].get<uint64_t>(), fs::file_size(image));
  EXPECT_EQ(export_info["is_read_only"], true);

  std::string copy = dir_ + "/copy.img";
  CommandResult copied = run("nbdcopy " + uri + " " + copy);
  ASSERT_EQ(copied.exit_code, 0) << copied.output;
  EXPECT_TRUE(read_file(copy) == read_file(image)) << "nbdcopy differs from shoal index export";

  ::kill(daemon.pid, SIGTERM);
  EXPECT_EQ(wait_exit(daemon.pid), 0) << read_file(dir_ + "/shoald.log");
  EXPECT_FALSE(fs::exists(socket)) << "the NBD socket goes with the daemon";
  expect_nothing_left();
}

}  // namespace
}  // namespace shoal::mount_test
