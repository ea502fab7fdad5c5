// examples/run.sh, the README's end-to-end example, run against the binaries of this build: a
// `shoal mount`ed data set read by examples/train_loop.py while `shoal writer` ships its
// checkpoints and log to a file:// bucket; the script checks the bucket byte for byte and
// fails otherwise. Needs root, FUSE, loop devices and EROFS, like the other mount tests.
#include <gtest/gtest.h>

#include "support/command.h"

namespace shoal {
namespace {

TEST(Example, TrainingLoopOnAMountWithTheWriterShippingCheckpoints) {
  test::CommandResult result = test::run_command(
      "SHOAL_BUILD=" SHOAL_BINARY_DIR " " SHOAL_SOURCE_DIR "/examples/run.sh --steps 20 2>&1");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("example: ok"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("older generations retired"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace shoal
