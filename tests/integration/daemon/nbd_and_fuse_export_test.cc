// Both frontends end to end with real, independent clients and the kernel's EROFS driver:
// an image made by mkfs.erofs from a directory of files is served by ImageFileDevice through
//  - the NBD server (Unix socket and TCP): nbdinfo sees the size and the read-only flag,
//    nbdcopy copies the export byte for byte, and nbdfuse + `mount -t erofs -o ro,loop` reads
//    every file back;
//  - the FUSE image: `mount -t erofs -o ro,loop` on the exposed file reads every file back,
//    also from 8 threads in random order.
// The frontends run on a PollReactor on the test thread; commands and file reads run on a
// helper thread while the test thread serves them (serve_while). Every mount, loop device and
// child process is undone in TearDown, also after a failure.
// Needs root, FUSE, loop devices, erofs-utils and libnbd-bin; fails loudly when they are missing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/poll_reactor.h"
#include "daemon/frontends/fuse_image.h"
#include "daemon/frontends/nbd_server.h"
#include "daemon/image_file_device.h"
#include "support/command.h"
#include "support/files.h"
#include "support/mounts.h"
#include "support/serve_while.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

using test::CommandResult;
using test::have_tool;
using test::is_mounted;
using test::read_file;
constexpr auto run = test::run_command;

// The source tree, its EROFS image and the relative paths of its files, made once.
struct Corpus {
  test::TempDir dir{"shoal-export"};
  std::string source;
  std::string image;
  std::vector<std::string> files;
  std::string error;  // why it could not be made
};

Corpus* corpus = nullptr;

void make_corpus() {
  corpus = new Corpus;
  if (corpus->dir.path().empty()) {
    corpus->error = "mkdtemp failed";
    return;
  }
  corpus->source = corpus->dir.path() + "/source";
  corpus->image = corpus->dir.path() + "/image.erofs";
  std::mt19937_64 random(42);
  const std::vector<size_t> edges = {0, 1, 4095, 4096, 4097, 65536, 200 * 1024};
  for (int d = 0; d < 12; ++d) {
    std::string sub = "dir" + std::to_string(d) + (d % 3 == 0 ? "/nested" : "");
    fs::create_directories(corpus->source + "/" + sub);
    for (int f = 0; f < 25; ++f) {
      size_t index = static_cast<size_t>(d * 25 + f);
      size_t size = index < edges.size() ? edges[index] : random() % (200 * 1024);
      std::string relative = sub + "/file-" + std::to_string(f) + ".bin";
      std::string bytes(size, '\0');
      for (size_t i = 0; i < size; i += 8) {
        uint64_t word = random();
        std::memcpy(bytes.data() + i, &word, std::min<size_t>(8, size - i));
      }
      std::ofstream(corpus->source + "/" + relative, std::ios::binary) << bytes;
      corpus->files.push_back(relative);
    }
  }
  fs::create_directories(corpus->source + "/empty-dir");
  CommandResult made = run("mkfs.erofs " + corpus->image + " " + corpus->source);
  if (made.exit_code != 0) corpus->error = "mkfs.erofs failed:\n" + made.output;
}

class ExportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (have_tool("mkfs.erofs")) make_corpus();
  }
  static void TearDownTestSuite() {
    delete corpus;
    corpus = nullptr;
  }

  void SetUp() override {
    ASSERT_FALSE(work_.path().empty()) << "mkdtemp: " << std::strerror(errno);
    ASSERT_EQ(geteuid(), 0u) << "this test mounts file systems: run it as root";
    for (const char* tool : {"mkfs.erofs", "nbdinfo", "nbdcopy", "nbdfuse", "fusermount3", "mount",
                             "umount", "losetup"}) {
      ASSERT_TRUE(have_tool(tool)) << tool << " not found: install erofs-utils, libnbd-bin, "
                                   << "fuse3 and util-linux (scripts/setup)";
    }
    ASSERT_EQ(access("/dev/fuse", R_OK | W_OK), 0) << "/dev/fuse is missing: modprobe fuse";
    ASSERT_NE(corpus, nullptr);
    ASSERT_TRUE(corpus->error.empty()) << corpus->error;
    auto device = ImageFileDevice::open(corpus->image, loop_);
    ASSERT_TRUE(device.ok()) << device.error().describe();
    device_ = std::move(*device);
  }

  // Undoes, newest first, whatever the test set up; serving meanwhile, since unmounting a file
  // system stacked on a frontend may need it. The work directory goes after, with work_.
  void TearDown() override {
    while (!cleanup_.empty()) {
      std::function<void()> step = std::move(cleanup_.back());
      cleanup_.pop_back();
      serve_while(step);
    }
    if (frontend_ != nullptr) frontend_->stop();
  }

  void serve_while(const std::function<void()>& script) { test::serve_while(loop_, script); }
  CommandResult serve_command(const std::string& command) {
    CommandResult result;
    serve_while([&] { result = run(command); });
    return result;
  }

  std::string make_dir(const std::string& name) {
    std::string path = work_.path() + "/" + name;
    fs::create_directories(path);
    return path;
  }

  // `mount -t erofs -o ro,loop`; the loop device is autocleared by the unmount, and anything
  // left on the backing file is detached anyway.
  void mount_erofs(const std::string& image, const std::string& target) {
    auto guard = std::make_shared<test::MountGuard>();
    CommandResult mounted;
    serve_while([&] { mounted = guard->mount_erofs(image, target); });
    ASSERT_EQ(mounted.exit_code, 0) << "mount failed:\n" << mounted.output;
    cleanup_.push_back([guard] { guard->release(); });
  }
  void unmount_erofs(const std::string& image, const std::string& target) {
    serve_while([&] { EXPECT_EQ(umount2(target.c_str(), 0), 0) << std::strerror(errno); });
    EXPECT_FALSE(is_mounted(target));
    EXPECT_TRUE(test::loop_devices_under(image).empty()) << "loop device left behind";
  }

  // Every file and directory of the source, and nothing else, with the same bytes; read by
  // `threads` threads, each in its own random order.
  void expect_same_tree(const std::string& mount, int threads = 1) {
    std::set<std::string> expected, found;
    for (const auto& entry : fs::recursive_directory_iterator(corpus->source))
      expected.insert(fs::relative(entry.path(), corpus->source).string());
    for (const auto& entry : fs::recursive_directory_iterator(mount))
      found.insert(fs::relative(entry.path(), mount).string());
    EXPECT_EQ(found, expected);

    std::vector<std::thread> readers;
    for (int t = 0; t < threads; ++t) {
      readers.emplace_back([&, t] {
        std::vector<std::string> order = corpus->files;
        std::shuffle(order.begin(), order.end(), std::mt19937_64(t));
        for (const std::string& file : order) {
          EXPECT_TRUE(read_file(mount + "/" + file) == read_file(corpus->source + "/" + file))
              << file << " differs (reader " << t << ")";
        }
      });
    }
    for (std::thread& reader : readers) reader.join();
  }

  // The test's own directory (mount points, sockets, copies); first, so it goes last, once the
  // frontend serving from it has stopped.
  test::TempDir work_{"shoal-export-test"};
  PollReactor loop_;
  std::unique_ptr<ImageFileDevice> device_;
  std::unique_ptr<Frontend> frontend_;
  std::vector<std::function<void()>> cleanup_;
};

class NbdExportTest : public ExportTest {
 protected:
  void start_server() {
    options_.nbd.unix_socket = work_.path() + "/nbd.sock";
    options_.nbd.tcp_address = "127.0.0.1";
    options_.nbd.tcp_port = 0;
    auto server = std::make_unique<NbdServer>(options_, loop_, *device_);
    Status started = server->start();
    ASSERT_TRUE(started.ok()) << started.error().describe();
    server_ = server.get();
    frontend_ = std::move(server);
  }
  std::string unix_uri() const {
    return "'nbd+unix:///shoal?socket=" + options_.nbd.unix_socket + "'";
  }
  std::string tcp_uri() const {
    return "nbd://127.0.0.1:" + std::to_string(server_->tcp_port()) + "/shoal";
  }

  FrontendOptions options_;
  NbdServer* server_ = nullptr;
};

TEST_F(NbdExportTest, NbdinfoSeesTheSizeAndTheReadOnlyFlag) {
  start_server();
  ASSERT_FALSE(HasFatalFailure());
  for (const std::string& uri : {unix_uri(), tcp_uri()}) {
    CommandResult info = serve_command("nbdinfo --json " + uri);
    ASSERT_EQ(info.exit_code, 0) << info.output;
    nlohmann::json parsed = nlohmann::json::parse(info.output, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << info.output;
    ASSERT_EQ(parsed["exports"].size(), 1u) << info.output;
    const nlohmann::json& exported = parsed["exports"][0];
    EXPECT_EQ(exported["export-size"].get<uint64_t>(), fs::file_size(corpus->image)) << uri;
    EXPECT_EQ(exported["is_read_only"], true) << uri;
    EXPECT_EQ(exported["can_multi_conn"], true) << uri;
    EXPECT_EQ(exported["block_size_preferred"], 4096) << uri;
  }
  CommandResult list = serve_command("nbdinfo --list " + unix_uri());
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("shoal"), std::string::npos) << list.output;
}

TEST_F(NbdExportTest, NbdcopyCopiesTheImageByteForByte) {
  start_server();
  ASSERT_FALSE(HasFatalFailure());
  std::string image = read_file(corpus->image);
  ASSERT_FALSE(image.empty());
  for (const std::string& uri : {unix_uri(), tcp_uri()}) {
    std::string copy = work_.path() + "/copy.img";
    CommandResult copied = serve_command("nbdcopy " + uri + " " + copy);
    ASSERT_EQ(copied.exit_code, 0) << copied.output;
    EXPECT_TRUE(read_file(copy) == image) << "the copy over " << uri << " differs from the image";
    fs::remove(copy);
  }
  EXPECT_TRUE(loop_.run_until([&] { return server_->connection_count() == 0; }));
}

TEST_F(NbdExportTest, NbdfuseAndTheKernelReadEveryFile) {
  start_server();
  ASSERT_FALSE(HasFatalFailure());
  std::string fuse_dir = make_dir("nbdfuse");
  std::string mount_point = make_dir("mnt");
  std::string pid_file = work_.path() + "/nbdfuse.pid";
  std::string log = work_.path() + "/nbdfuse.log";

  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(out, 2);
    std::string socket = options_.nbd.unix_socket;
    execlp("nbdfuse", "nbdfuse", "-r", "-P", pid_file.c_str(), fuse_dir.c_str(), "--unix",
           socket.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  cleanup_.push_back([child, fuse_dir] {
    if (is_mounted(fuse_dir)) run("fusermount3 -u " + fuse_dir);
    if (waitpid(child, nullptr, WNOHANG) == 0) {
      kill(child, SIGTERM);
      waitpid(child, nullptr, 0);
    }
  });
  // nbdfuse writes its pid file once connected and mounted; it may also die trying.
  bool exited = false;
  EXPECT_TRUE(loop_.run_until([&] {
    exited = waitpid(child, nullptr, WNOHANG) == child;
    return exited || fs::exists(pid_file);
  }));
  ASSERT_FALSE(exited) << "nbdfuse exited:\n" << read_file(log);

  std::string exposed = fuse_dir + "/nbd";
  serve_while([&] { EXPECT_EQ(fs::file_size(exposed), fs::file_size(corpus->image)); });
  mount_erofs(exposed, mount_point);
  ASSERT_FALSE(HasFatalFailure());
  serve_while([&] { expect_same_tree(mount_point); });
  unmount_erofs(exposed, mount_point);
}

class FuseImageExportTest : public ExportTest {
 protected:
  void start_fuse() {
    FrontendOptions options;
    options.fuse.mount_point = make_dir("fuse");
    auto fuse = std::make_unique<FuseImage>(options, loop_, *device_);
    Status started = fuse->start();
    ASSERT_TRUE(started.ok()) << started.error().describe();
    image_ = fuse->image_path();
    fuse_dir_ = options.fuse.mount_point;
    frontend_ = std::move(fuse);
  }
  std::string image_;
  std::string fuse_dir_;
};

TEST_F(FuseImageExportTest, TheKernelMountsErofsOnTheImageFile) {
  start_fuse();
  ASSERT_FALSE(HasFatalFailure());
  std::string mount_point = make_dir("mnt");
  serve_while([&] { EXPECT_TRUE(read_file(image_) == read_file(corpus->image)); });
  mount_erofs(image_, mount_point);
  ASSERT_FALSE(HasFatalFailure());
  serve_while([&] { expect_same_tree(mount_point); });
  unmount_erofs(image_, mount_point);
  frontend_->stop();
  EXPECT_FALSE(is_mounted(fuse_dir_)) << "the FUSE mount outlived stop()";
}

TEST_F(FuseImageExportTest, EightThreadsReadingInRandomOrder) {
  start_fuse();
  ASSERT_FALSE(HasFatalFailure());
  std::string mount_point = make_dir("mnt");
  mount_erofs(image_, mount_point);
  ASSERT_FALSE(HasFatalFailure());
  serve_while([&] { expect_same_tree(mount_point, 8); });
  unmount_erofs(image_, mount_point);
}

}  // namespace
}  // namespace shoal
