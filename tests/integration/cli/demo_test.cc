// scripts/demo, the README's first command, run against the binaries of this build: it makes a
// data set, indexes it, mounts it with `shoal mount`, checksums every file through the kernel
// mount against the source, prints the stats and unmounts, failing on any difference or
// leftover mount. Needs root, FUSE, loop devices and EROFS, like the other mount tests.
#include <gtest/gtest.h>

#include "support/command.h"

namespace shoal {
namespace {

TEST(Demo, MountsReadsEveryFileCorrectlyAndUnmounts) {
  test::CommandResult result = test::run_command("SHOAL_BUILD=" SHOAL_BINARY_DIR " " SHOAL_SOURCE_DIR
                                                 "/scripts/demo 2>&1");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("files, all equal to the source"), std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("shoal_engine_gets_total"), std::string::npos)
      << "the stats were printed\n" << result.output;
  EXPECT_NE(result.output.find("demo: ok"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace shoal
