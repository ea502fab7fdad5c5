// Runs the built `shoal` binary against a file:// tree, as a user or a script would.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/files.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

const std::string kShoal = SHOAL_BINARY_DIR "/tools/shoal";

using test::read_file;

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class ShoalCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kShoal)) << kShoal << " is missing: build the `shoal` target first";
    ASSERT_FALSE(temp_.path().empty()) << "mkdtemp: " << std::strerror(errno);
    fs::create_directories(dir_ / "data/sub");
    write("data/a.txt", "hello\n");
    write("data/sub/digits.bin", "0123456789");
    write("data/zero", "");
  }

  void write(const std::string& rel, std::string_view content) {
    std::ofstream(dir_ / rel, std::ios::binary) << content;
  }
  std::string uri(const std::string& rel) const { return "file://" + (dir_ / rel).string(); }

  // Runs shoal with `args`, capturing stdout and stderr through files in the temp dir.
  CliRun shoal(std::vector<std::string> args) {
    fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    pid_t pid = ::fork();
    if (pid == 0) {
      int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(127);
      std::vector<char*> argv{const_cast<char*>(kShoal.c_str())};
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(kShoal.c_str(), argv.data());
      ::_exit(127);
    }
    CliRun r;
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = read_file(out);
    r.err = read_file(err);
    fs::remove(out);
    fs::remove(err);
    return r;
  }

  test::TempDir temp_{"shoal-cli"};
  fs::path dir_{temp_.path()};
};

TEST_F(ShoalCli, LsShowsPrefixesAndObjectsOneLevelDown) {
  CliRun r = shoal({"ls", uri("data/")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string a, pre, zero, extra;
  std::getline(lines, a);
  std::getline(lines, pre);
  std::getline(lines, zero);
  EXPECT_FALSE(std::getline(lines, extra)) << r.out;
  EXPECT_TRUE(a.ends_with("          6 a.txt")) << a;
  EXPECT_EQ(pre, std::string(27, ' ') + "PRE sub/");
  EXPECT_TRUE(zero.ends_with("          0 zero")) << zero;
}

TEST_F(ShoalCli, LsRecursiveShowsFullKeys) {
  CliRun r = shoal({"ls", "--recursive", uri("data/")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string base = dir_.string().substr(1) + "/data/";
  EXPECT_NE(r.out.find(" 10 " + base + "sub/digits.bin\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("PRE"), std::string::npos);
}

// `index ls` reads the index's EROFS directories (what the kernel will show), and `index
// info` prints the typed build info.
TEST_F(ShoalCli, IndexLsAndInfoDescribeTheVolume) {
  std::string index = (dir_ / "v.shix").string();
  CliRun built = shoal({"index", "build", uri("data/"), "-o", index});
  ASSERT_EQ(built.exit_code, 0) << built.err;

  CliRun root = shoal({"index", "ls", index});
  ASSERT_EQ(root.exit_code, 0) << root.err;
  EXPECT_EQ(root.out, std::string(9, ' ') + "DIR  sub/\n" + std::string(11, ' ') + "6  a.txt\n" +
                          std::string(11, ' ') + "0  zero\n");
  CliRun sub = shoal({"index", "ls", index, "/sub/"});
  ASSERT_EQ(sub.exit_code, 0) << sub.err;
  EXPECT_EQ(sub.out, std::string(10, ' ') + "10  digits.bin\n");

  CliRun missing = shoal({"index", "ls", index, "nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nope"), std::string::npos) << missing.err;
  CliRun file = shoal({"index", "ls", index, "a.txt"});
  EXPECT_NE(file.exit_code, 0);
  EXPECT_NE(file.err.find("not a directory"), std::string::npos) << file.err;

  CliRun info = shoal({"index", "info", index});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("source: " + uri("data/") + "\n"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("files: 3\n"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("directories: 2\n"), std::string::npos) << info.out;
}

TEST_F(ShoalCli, CatWritesTheObjectOrARange) {
  CliRun whole = shoal({"cat", uri("data/sub/digits.bin")});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  EXPECT_EQ(whole.out, "0123456789");
  CliRun middle = shoal({"cat", "--range", "2-4", uri("data/sub/digits.bin")});
  ASSERT_EQ(middle.exit_code, 0) << middle.err;
  EXPECT_EQ(middle.out, "234");
  CliRun tail = shoal({"cat", uri("data/sub/digits.bin"), "--range", "7-"});
  EXPECT_EQ(tail.out, "789");
  CliRun empty = shoal({"cat", uri("data/zero")});
  EXPECT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_EQ(empty.out, "");
}

TEST_F(ShoalCli, CatPastTheEndFailsWithTheStoresError) {
  CliRun r = shoal({"cat", "--range", "10-", uri("data/sub/digits.bin")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(r.err.starts_with("shoal: cat " + uri("data/sub/digits.bin") +
                                ": range not satisfiable"))
      << r.err;
}

TEST_F(ShoalCli, PutUploadsAFileAndStatDescribesIt) {
  write("local.bin", "uploaded bytes");
  CliRun put = shoal({"put", (dir_ / "local.bin").string(), uri("data/new/")});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  EXPECT_TRUE(put.out.starts_with("put " + uri("data/new/local.bin") + " (14 bytes")) << put.out;
  EXPECT_EQ(read_file(dir_ / "data/new/local.bin"), "uploaded bytes");

  CliRun stat = shoal({"stat", uri("data/new/local.bin")});
  ASSERT_EQ(stat.exit_code, 0) << stat.err;
  EXPECT_NE(stat.out.find("size:  14\n"), std::string::npos) << stat.out;
  EXPECT_NE(stat.out.find("etag:  "), std::string::npos);
  EXPECT_NE(stat.out.find("mtime: "), std::string::npos);
  EXPECT_NE(stat.out.find("crc64: "), std::string::npos);
}

TEST_F(ShoalCli, UsageErrorsExitTwoWithAMessage) {
  struct Case {
    std::vector<std::string> args;
    std::string fragment;
  };
  for (const Case& c : std::vector<Case>{
           {{"ls", "bad://x"}, "unknown scheme 'bad'"},
           {{"ls", "/abs/path"}, "file:///abs/path"},
           {{"cat", "file://relative/x"}, "absolute path"},
           {{"cat", "--range", "5-2", uri("data/a.txt")}, "bad --range '5-2'"},
           {{"stat", uri("data/")}, "names no object"},
           {{"ls"}, "URI is required"},
           {{"frobnicate"}, "subcommand is required"},
           {{}, "subcommand is required"},
       }) {
    CliRun r = shoal(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.fragment << ": " << r.err;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << r.err;
  }
}

TEST_F(ShoalCli, OperationFailuresExitOneWithWhatFailed) {
  CliRun missing = shoal({"stat", uri("data/nope")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(missing.err.starts_with("shoal: stat " + uri("data/nope") + ": not found"))
      << missing.err;
  CliRun no_file = shoal({"put", (dir_ / "absent").string(), uri("data/x")});
  EXPECT_EQ(no_file.exit_code, 1);
  EXPECT_NE(no_file.err.find("not found"), std::string::npos) << no_file.err;
  CliRun bad_key = shoal({"put", (dir_ / "data/a.txt").string(), uri("data//x")});
  EXPECT_EQ(bad_key.exit_code, 1);
  EXPECT_NE(bad_key.err.find("empty segment"), std::string::npos) << bad_key.err;
}

TEST_F(ShoalCli, HelpDescribesEverySubcommandAndExitsZero) {
  CliRun r = shoal({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* sub : {"ls", "cat", "put", "stat"})
    EXPECT_NE(r.out.find(sub), std::string::npos) << sub;
  CliRun ls = shoal({"ls", "--help"});
  EXPECT_EQ(ls.exit_code, 0);
  for (const char* opt : {"--recursive", "--config", "--endpoint", "--region", "--path-style",
                          "--oss-v1"})
    EXPECT_NE(ls.out.find(opt), std::string::npos) << opt;
}

}  // namespace
}  // namespace shoal
