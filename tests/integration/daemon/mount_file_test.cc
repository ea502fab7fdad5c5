// `shoal mount` end to end over the file:// backend with the FUSE-image frontend and the
// kernel's EROFS driver: mounting a URI (indexed on the fly) and an index file with a config,
// reading every file and directory back, `shoal stats`, `shoal volumes`, `shoal umount` leaving
// nothing behind (also after the daemon died), shoald stopping cleanly on SIGTERM and on
// `shutdown`, hints on the control socket, and the refusals (corrupt index, bad config,
// missing mount point, missing /dev/fuse) with their exit codes and messages.
#include <sys/socket.h>
#include <sys/un.h>

#include "common/control.h"
#include "integration/daemon/mount_harness.h"

namespace shoal::mount_test {
namespace {

// An HTTP GET over a Unix socket: the metrics endpoint as a scraper sees it.
std::string http_get_unix(const std::string& path, const std::string& target) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string request = "GET " + target + " HTTP/1.1\r\nHost: shoal\r\n\r\n";
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return reply;
}

class MountFileTest : public MountTest {
 protected:
  void SetUp() override {
    MountTest::SetUp();
    if (HasFatalFailure()) return;
    tree_ = make_tree();
    write_tree(tree_, source_);
    // Objects, not directories, make a volume: an empty directory of the source has no key,
    // so it is not in the volume (expect_same_tree would flag it).
    fs::create_directories(source_ + "/images/none");
  }

  Tree tree_;
};

TEST_F(MountFileTest, UriMountReadsEverythingAndUmountLeavesNothing) {
  // Three workers: every file is read back through reads routed to their objects' owners.
  CommandResult mounted = shoal("mount file://" + source_ + " " + mountpoint_ + " --workers 3");
  ASSERT_EQ(mounted.exit_code, 0) << mounted.output;
  EXPECT_NE(mounted.output.find("indexed file://" + source_), std::string::npos) << mounted.output;
  EXPECT_EQ(test::mounted_type(mountpoint_), "erofs");
  EXPECT_TRUE(test::is_read_only_mount(mountpoint_)) << "the EROFS mount is not read-only";
  EXPECT_EQ(daemons_mentioning(dir_).size(), 1u);
  expect_same_tree(tree_, mountpoint_);

  CommandResult stats = shoal("stats " + mountpoint_);
  ASSERT_EQ(stats.exit_code, 0) << stats.output;
  EXPECT_GT(metric(stats.output, "shoal_engine_cache_misses_total"), 0) << stats.output;
  EXPECT_GT(metric(stats.output, "shoal_engine_cache_hits_total"), 0) << stats.output;
  EXPECT_GT(metric(stats.output, "shoal_engine_gets_total"), 0) << stats.output;
  EXPECT_EQ(metric(stats.output, "shoal_engine_request_errors_total"), 0) << stats.output;
  EXPECT_GT(metric(stats.output, "process_resident_memory_bytes"), 0) << stats.output;
  EXPECT_EQ(metric(stats.output, "shoal_daemon_workers"), 3) << stats.output;

  CommandResult unmounted = shoal("umount " + mountpoint_);
  ASSERT_EQ(unmounted.exit_code, 0) << unmounted.output;
  expect_nothing_left();
  EXPECT_TRUE(fs::is_empty(mountpoint_));
  CommandResult again = shoal("umount " + mountpoint_);
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_NE(again.output.find("not mounted by shoal"), std::string::npos) << again.output;
}

TEST_F(MountFileTest, IndexFileMountWithConfigServesMetricsAndHints) {
  std::string index = build_index();
  std::string metrics_socket = dir_ + "/metrics.sock";
  std::string config = dir_ + "/volume.toml";
  std::ofstream(config) << "[cache]\nmemory = \"64MiB\"\n[prefetch]\nmode = \"none\"\n"
                        << "[metrics]\nlisten = \"unix:" << metrics_socket << "\"\n"
                        << "[daemon]\nworkers = 2\n";
  CommandResult mounted = shoal("mount " + index + " " + mountpoint_ + " --config " + config);
  ASSERT_EQ(mounted.exit_code, 0) << mounted.output;
  expect_same_tree(tree_, mountpoint_);

  std::string scraped = http_get_unix(metrics_socket, "/metrics");
  EXPECT_TRUE(scraped.starts_with("HTTP/1.1 200 OK")) << scraped;
  EXPECT_EQ(metric(scraped.substr(scraped.find("\r\n\r\n") + 4), "shoal_daemon_cache_budget_bytes"),
            64.0 * 1024 * 1024)
      << scraped;
  EXPECT_EQ(metric(scraped.substr(scraped.find("\r\n\r\n") + 4), "shoal_daemon_workers"), 2) << scraped;

  std::string control = read_file(dir_ + "/run/" + fs::directory_iterator(dir_ + "/run")->path()
                                                        .filename().string() + "/state.toml");
  size_t at = control.find("control_socket = '");
  ASSERT_NE(at, std::string::npos) << control;
  std::string socket = control.substr(at + 18, control.find('\'', at + 18) - at - 18);
  auto hinted =
      control_request(socket, {"hints"}, "images/cats/cat-0001.jpg\n# a comment\nno/such/file\n",
                      std::chrono::seconds(30));
  ASSERT_TRUE(hinted.ok()) << hinted.error().describe();
  EXPECT_EQ(hinted->get("matched"), "1");
  EXPECT_EQ(hinted->get("unknown"), "1");
  EXPECT_EQ(hinted->all("unknown_path"), std::vector<std::string>{"no/such/file"});
  CommandResult by_socket = shoal("stats " + socket);
  EXPECT_EQ(by_socket.exit_code, 0) << by_socket.output;
  EXPECT_GT(metric(by_socket.output, "shoal_engine_requests_total"), 0) << by_socket.output;

  CommandResult unmounted = shoal("umount " + mountpoint_);
  ASSERT_EQ(unmounted.exit_code, 0) << unmounted.output;
  expect_nothing_left();
  EXPECT_FALSE(fs::exists(metrics_socket)) << "the daemon removes its sockets";
}

TEST_F(MountFileTest, UmountCleansUpAfterADeadDaemon) {
  CommandResult mounted = shoal("mount file://" + source_ + " " + mountpoint_);
  ASSERT_EQ(mounted.exit_code, 0) << mounted.output;
  std::vector<pid_t> daemons = daemons_mentioning(dir_);
  ASSERT_EQ(daemons.size(), 1u);
  CommandResult serving = shoal("volumes");
  ASSERT_EQ(serving.exit_code, 0) << serving.output;
  EXPECT_NE(serving.output.find(mountpoint_), std::string::npos) << serving.output;
  EXPECT_NE(serving.output.find(" serving "), std::string::npos) << serving.output;
  ::kill(daemons[0], SIGKILL);
  ASSERT_TRUE(wait_for([&] { return daemons_mentioning(dir_).empty(); }));
  CommandResult dead = shoal("volumes");
  EXPECT_NE(dead.output.find(" daemon-dead "), std::string::npos) << dead.output;
  CommandResult unmounted = shoal("umount " + mountpoint_);
  ASSERT_EQ(unmounted.exit_code, 0) << unmounted.output;
  expect_nothing_left();
  CommandResult none = shoal("volumes");
  EXPECT_EQ(none.output.find(mountpoint_), std::string::npos) << none.output;
}

TEST_F(MountFileTest, ShoaldStopsCleanlyOnSigtermAndOnShutdown) {
  std::string index = build_index();
  std::string fuse_dir = dir_ + "/fuse";
  std::string control = dir_ + "/control.sock";
  std::string pid_file = dir_ + "/shoald.pid";
  fs::create_directories(fuse_dir);
  const std::vector<std::string> args = {"--index", index, "--frontend", "fuse", "--mountpoint",
                                         fuse_dir, "--control", control, "--pid-file", pid_file};
  for (const bool by_signal : {true, false}) {
    Spawned daemon = spawn_shoald(args, dir_ + "/shoald.log");
    ASSERT_EQ(daemon.ready, "ready") << read_file(dir_ + "/shoald.log");
    EXPECT_TRUE(is_mounted(fuse_dir));
    EXPECT_EQ(read_file(fuse_dir + "/image").size(), fs::file_size(fuse_dir + "/image"));
    EXPECT_EQ(std::stoi(read_file(pid_file)), daemon.pid);
    auto status = control_request(control, {"status"}, {}, std::chrono::seconds(30));
    ASSERT_TRUE(status.ok()) << status.error().describe();
    EXPECT_TRUE(status->get("frontend").starts_with("fuse")) << status->get("frontend");
    EXPECT_EQ(status->get("pid"), std::to_string(daemon.pid));
    if (by_signal) {
      ::kill(daemon.pid, SIGTERM);
    } else {
      auto stopped = control_request(control, {"shutdown"}, {}, std::chrono::seconds(30));
      EXPECT_TRUE(stopped.ok()) << stopped.error().describe();
    }
    EXPECT_EQ(wait_exit(daemon.pid), 0) << read_file(dir_ + "/shoald.log");
    EXPECT_FALSE(is_mounted(fuse_dir));
    EXPECT_FALSE(fs::exists(control));
    EXPECT_FALSE(fs::exists(pid_file));
    std::string log = read_file(dir_ + "/shoald.log");
    EXPECT_NE(log.find(by_signal ? "received SIGTERM" : "shutdown requested"), std::string::npos)
        << log;
    EXPECT_NE(log.find("stopped"), std::string::npos) << log;
  }
  expect_nothing_left();
}

TEST_F(MountFileTest, RefusesCorruptIndexBadConfigAndMissingMountPoint) {
  std::string index = build_index();
  std::string corrupt = dir_ + "/corrupt.shix";
  fs::copy_file(index, corrupt);
  {
    std::fstream f(corrupt, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 100);
    f.write("garbage", 7);
  }
  CommandResult bad_index = shoal("mount " + corrupt + " " + mountpoint_);
  EXPECT_EQ(bad_index.exit_code, 1) << bad_index.output;
  EXPECT_NE(bad_index.output.find("checksum mismatch"), std::string::npos) << bad_index.output;
  EXPECT_NE(bad_index.output.find(corrupt), std::string::npos) << bad_index.output;
  Spawned direct = spawn_shoald({"--index", corrupt, "--frontend", "nbd", "--socket",
                                 dir_ + "/nbd.sock"}, dir_ + "/direct.log");
  EXPECT_EQ(wait_exit(direct.pid), 1);
  EXPECT_NE(direct.ready.find("checksum mismatch"), std::string::npos) << direct.ready;

  std::string config = dir_ + "/bad.toml";
  std::ofstream(config) << "[cache]\nmemroy = \"1GiB\"\n";
  CommandResult bad_config = shoal("mount " + index + " " + mountpoint_ + " --config " + config);
  EXPECT_EQ(bad_config.exit_code, 2) << bad_config.output;
  EXPECT_NE(bad_config.output.find(config + ": [cache] memroy: unknown key"), std::string::npos)
      << bad_config.output;
  CommandResult shoald_config = run(kShoald + " --config " + config + " --index " + index);
  EXPECT_EQ(shoald_config.exit_code, 2) << shoald_config.output;
  EXPECT_NE(shoald_config.output.find("[cache] memroy"), std::string::npos) << shoald_config.output;
  std::string tiny = dir_ + "/tiny.toml";
  std::ofstream(tiny) << "[cache]\nmemory = \"1MiB\"\n";
  CommandResult tiny_cache = shoal("mount " + index + " " + mountpoint_ + " --config " + tiny);
  EXPECT_EQ(tiny_cache.exit_code, 2) << tiny_cache.output;
  EXPECT_NE(tiny_cache.output.find("cache.memory"), std::string::npos) << tiny_cache.output;

  CommandResult missing = shoal("mount " + index + " " + dir_ + "/no-such-dir");
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("not an existing directory"), std::string::npos) << missing.output;
  CommandResult nonsense = shoal("mount " + dir_ + "/no-such.shix " + mountpoint_);
  EXPECT_EQ(nonsense.exit_code, 2) << nonsense.output;
  EXPECT_NE(nonsense.output.find("neither an index file nor a URI"), std::string::npos)
      << nonsense.output;
  CommandResult nbd = shoal("mount " + index + " " + mountpoint_ + " --frontend nbd");
  EXPECT_EQ(nbd.exit_code, 2) << nbd.output;
  expect_nothing_left();
}

TEST_F(MountFileTest, SecondMountOnTheSamePointIsRefused) {
  std::string index = build_index();
  CommandResult first = shoal("mount " + index + " " + mountpoint_);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  CommandResult second = shoal("mount " + index + " " + mountpoint_);
  EXPECT_EQ(second.exit_code, 2) << second.output;
  EXPECT_NE(second.output.find("already a mount point"), std::string::npos) << second.output;
  EXPECT_EQ(daemons_mentioning(dir_).size(), 1u);
  CommandResult unmounted = shoal("umount " + mountpoint_);
  ASSERT_EQ(unmounted.exit_code, 0) << unmounted.output;
  expect_nothing_left();
}

// /dev/fuse hidden by a private tmpfs over /dev in a mount namespace of shoald's own.
TEST_F(MountFileTest, ShoaldRefusesToStartWithoutDevFuse) {
  std::string index = build_index();
  fs::create_directories(dir_ + "/fuse");
  CommandResult refused = run("unshare --mount --propagation private sh -c 'mount -t tmpfs none "
                              "/dev && exec " + kShoald + " --index " + index +
                              " --frontend fuse --mountpoint " + dir_ + "/fuse'");
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("/dev/fuse is missing"), std::string::npos) << refused.output;
  expect_nothing_left();
}

}  // namespace
}  // namespace shoal::mount_test
