#include "store/credentials.h"

#include <gtest/gtest.h>

#include <sstream>

namespace shoal {
namespace {

TEST(Credentials, PrintedFormsNeverCarryTheSecretOrTheToken) {
  Credentials c{"LTAI5tExampleKeyId", "s3cr3t-value-xyz", "sts-token-abc"};
  std::ostringstream streamed;
  streamed << c;
  for (const std::string& shown : {c.redacted(), streamed.str()}) {
    EXPECT_EQ(shown, "LTAI…(redacted)");
    EXPECT_EQ(shown.find("s3cr3t"), std::string::npos);
    EXPECT_EQ(shown.find("sts-token"), std::string::npos);
    EXPECT_EQ(shown.find("ExampleKeyId"), std::string::npos);
  }
  EXPECT_EQ(Credentials{}.redacted(), "(anonymous)");
}

}  // namespace
}  // namespace shoal
