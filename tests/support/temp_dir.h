// A fresh temporary directory for one test (or one suite), removed with everything in it when
// the guard goes out of scope, also after a failed assertion.
#pragma once

#include <string>
#include <string_view>

namespace shoal::test {

class TempDir {
 public:
  // Creates <system temp dir>/<prefix>-XXXXXX. When that fails path() is empty and errno says
  // why: a test asserts `!path().empty()` before using it.
  explicit TempDir(std::string_view prefix = "shoal-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace shoal::test
