#include "common/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <string>

namespace shoal {
namespace {

TEST(Log, LineFormat) {
  using namespace std::chrono;
  // 2026-05-01T12:34:56.789Z
  sys_time<milliseconds> when = sys_days{year{2026} / 5 / 1} + 12h + 34min + 56s + 789ms;
  EXPECT_EQ(format_log_line(when, "shoald", 4242, LogLevel::kInfo, "ready"),
            "2026-05-01T12:34:56.789Z shoald[4242] info: ready\n");
  EXPECT_EQ(format_log_line(when, "shoal-writer", 7, LogLevel::kWarning, "x"),
            "2026-05-01T12:34:56.789Z shoal-writer[7] warning: x\n");
  EXPECT_EQ(format_log_line(sys_days{year{2026} / 1 / 2}, "p", 1, LogLevel::kError, ""),
            "2026-01-02T00:00:00.000Z p[1] error: \n");
}

TEST(Log, WritesOneLineToStderrUnderTheProgramName) {
  set_log_program("log-test");
  ::testing::internal::CaptureStderr();
  log_info("first");
  log_error("second");
  std::string out = ::testing::internal::GetCapturedStderr();
  std::string pid = std::to_string(::getpid());
  std::regex line(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z log-test\[)" + pid +
                  R"(\] info: first\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z log-test\[)" + pid +
                  R"(\] error: second\n)");
  EXPECT_TRUE(std::regex_match(out, line)) << out;
}

}  // namespace
}  // namespace shoal
