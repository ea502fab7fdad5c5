// The volume config: every table and key, sizes, defaults, the errors a typo gets (naming the
// file, table and key), and the example configs in configs/.
#include "daemon/volume_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

namespace shoal {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

Error parse_error(std::string_view text) {
  auto parsed = parse_volume_config(text, "vol.toml");
  EXPECT_FALSE(parsed.ok()) << "accepted:\n" << text;
  return parsed.ok() ? Error() : parsed.error();
}

TEST(VolumeConfigTest, EveryTableAndKey) {
  auto c = parse_volume_config(R"(
[source]
uri = "s3://bucket/train/"
[store]
region = "us-east-1"
access_key_id_env = "TRAIN_KEY_ID"
secret_env = "TRAIN_SECRET"
[index]
path = "/var/lib/shoal/train.shix"
[cache]
memory = "8GiB"
[fetch]
whole_object_max = "2MiB"
chunk_size = 524288
max_inflight = 256
rps = 1500.5
[prefetch]
mode = "none"
window = 8
window_max = 128
readahead_chunks = 2
warm_all = true
hints = "/etc/shoal/order.txt"
[frontend]
kind = "nbd"
socket = "/run/shoal/train.nbd"
port = 10810
export_name = "train"
mountpoint = "/run/shoal/train-fuse"
allow_other = true
ublk_queues = 2
ublk_depth = 64
[metrics]
listen = "127.0.0.1:9109"
[control]
socket = "/run/shoal/train.ctl"
[daemon]
workers = 6
)",
                               "train.toml");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->origin, "train.toml");
  EXPECT_EQ(c->source, "s3://bucket/train/");
  EXPECT_EQ(c->index_path, "/var/lib/shoal/train.shix");
  EXPECT_EQ(c->cache_memory, 8 * kGiB);
  EXPECT_EQ(c->engine.whole_object_max, 2 * kMiB);
  EXPECT_EQ(c->engine.chunk_size, 512 * 1024u);
  EXPECT_EQ(c->engine.max_gets_in_flight, 256);
  EXPECT_DOUBLE_EQ(c->engine.max_gets_per_second, 1500.5);
  EXPECT_EQ(c->engine.prefetch, PrefetchMode::kNone);
  EXPECT_EQ(c->engine.prefetch_window_initial, 8u);
  EXPECT_EQ(c->engine.prefetch_window_max, 128u);
  EXPECT_EQ(c->engine.readahead_chunks, 2u);
  EXPECT_TRUE(c->engine.warm_all);
  EXPECT_EQ(c->hints_file, "/etc/shoal/order.txt");
  EXPECT_EQ(c->frontend, "nbd");
  EXPECT_EQ(c->frontend_options.nbd.unix_socket, "/run/shoal/train.nbd");
  EXPECT_EQ(c->frontend_options.nbd.tcp_address, "127.0.0.1");  // a port alone means loopback
  EXPECT_EQ(c->frontend_options.nbd.tcp_port, 10810);
  EXPECT_EQ(c->frontend_options.export_name, "train");
  EXPECT_EQ(c->frontend_options.fuse.mount_point, "/run/shoal/train-fuse");
  EXPECT_TRUE(c->frontend_options.fuse.allow_other);
  EXPECT_EQ(c->frontend_options.ublk.queues, 2);
  EXPECT_EQ(c->frontend_options.ublk.queue_depth, 64);
  EXPECT_EQ(c->metrics_listen, "127.0.0.1:9109");
  EXPECT_EQ(c->control_socket, "/run/shoal/train.ctl");
  EXPECT_EQ(c->workers, 6);
}

TEST(VolumeConfigTest, AnEmptyFileGivesTheDefaults) {
  auto c = parse_volume_config("", "empty.toml");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EngineOptions defaults;
  EXPECT_EQ(c->cache_memory, 1 * kGiB);
  EXPECT_EQ(c->engine.whole_object_max, defaults.whole_object_max);
  EXPECT_EQ(c->engine.chunk_size, defaults.chunk_size);
  EXPECT_EQ(c->engine.max_gets_in_flight, defaults.max_gets_in_flight);
  EXPECT_EQ(c->engine.prefetch, PrefetchMode::kCrossFile);
  EXPECT_EQ(c->frontend, "auto");
  EXPECT_TRUE(c->frontend_options.nbd.tcp_address.empty()) << "no TCP listener unless asked";
  EXPECT_EQ(c->frontend_options.ublk.queues, 1);
  EXPECT_EQ(c->frontend_options.ublk.queue_depth, 128);
  EXPECT_TRUE(c->metrics_listen.empty());
  EXPECT_TRUE(c->control_socket.empty());
  EXPECT_EQ(c->workers, 0) << "0: shoald picks half the CPUs it may use";
  EXPECT_GE(default_worker_count(), 1);
  EXPECT_LE(default_worker_count(), WorkerOptions::kMaxWorkers);
}

TEST(VolumeConfigTest, SizesTakeBinaryAndDecimalUnits) {
  struct Case {
    const char* text;
    uint64_t bytes;
  };
  for (const Case& c : {Case{"4GiB", 4 * kGiB}, Case{"4 GiB", 4 * kGiB}, Case{"4G", 4 * kGiB},
                        Case{"4gi", 4 * kGiB}, Case{"512MiB", 512 * kMiB}, Case{"64k", 64 * 1024},
                        Case{"1.5GiB", 3 * kGiB / 2}, Case{"10MB", 10'000'000},
                        Case{"2TB", 2'000'000'000'000}, Case{"1TiB", 1ull << 40},
                        Case{"4096", 4096}, Case{"100B", 100}, Case{" 7 kb ", 7000}}) {
    auto parsed = parse_size(c.text, "size");
    ASSERT_TRUE(parsed.ok()) << c.text << ": " << parsed.error().describe();
    EXPECT_EQ(*parsed, c.bytes) << c.text;
  }
  for (const char* bad : {"", "GiB", "4 GiBs", "-1GiB", "1..5G", "4XB", "1e3", "99999999999TiB"}) {
    auto parsed = parse_size(bad, "[cache] memory");
    ASSERT_FALSE(parsed.ok()) << "accepted '" << bad << "'";
    EXPECT_NE(parsed.error().message.find("[cache] memory"), std::string::npos)
        << parsed.error().message;
  }
}

TEST(VolumeConfigTest, ErrorsNameTheFileTableAndKey) {
  Error typo = parse_error("[fetch]\nchunck_size = \"1MiB\"\n");
  EXPECT_EQ(typo.kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(typo.message.find("vol.toml: [fetch] chunck_size: unknown key"), std::string::npos)
      << typo.message;
  EXPECT_NE(typo.message.find("chunk_size"), std::string::npos) << "lists the known keys";

  Error table = parse_error("[cahce]\nmemory = \"1GiB\"\n");
  EXPECT_NE(table.message.find("vol.toml"), std::string::npos) << table.message;
  EXPECT_NE(table.message.find("'cahce'"), std::string::npos) << table.message;

  Error top = parse_error("memory = 5\n");
  EXPECT_NE(top.message.find("'memory'"), std::string::npos) << top.message;

  Error type = parse_error("[fetch]\nmax_inflight = \"many\"\n");
  EXPECT_NE(type.message.find("[fetch] max_inflight"), std::string::npos) << type.message;

  Error size = parse_error("[cache]\nmemory = \"lots\"\n");
  EXPECT_NE(size.message.find("[cache] memory"), std::string::npos) << size.message;

  Error zero = parse_error("[cache]\nmemory = 0\n");
  EXPECT_NE(zero.message.find("[cache] memory"), std::string::npos) << zero.message;

  Error mode = parse_error("[prefetch]\nmode = \"aggressive\"\n");
  EXPECT_NE(mode.message.find("[prefetch] mode"), std::string::npos) << mode.message;
  EXPECT_NE(mode.message.find("cross-file"), std::string::npos) << mode.message;

  Error kind = parse_error("[frontend]\nkind = \"iscsi\"\n");
  EXPECT_NE(kind.message.find("[frontend] kind"), std::string::npos) << kind.message;

  Error port = parse_error("[frontend]\nport = 70000\n");
  EXPECT_NE(port.message.find("[frontend] port"), std::string::npos) << port.message;

  Error workers = parse_error("[daemon]\nworkers = 17\n");
  EXPECT_NE(workers.message.find("[daemon] workers"), std::string::npos) << workers.message;
  EXPECT_NE(workers.message.find("between 1 and 16"), std::string::npos) << workers.message;

  Error not_table = parse_error("fetch = 3\n");
  EXPECT_NE(not_table.message.find("fetch must be a table"), std::string::npos)
      << not_table.message;
}

TEST(VolumeConfigTest, UblkQueuesAndDepthAreBounded) {
  auto largest =
      parse_volume_config("[frontend]\nublk_queues = 4096\nublk_depth = 4096\n", "u.toml");
  ASSERT_TRUE(largest.ok()) << largest.error().describe();
  EXPECT_EQ(largest->frontend_options.ublk.queues, 4096);
  EXPECT_EQ(largest->frontend_options.ublk.queue_depth, 4096);
  for (const char* bad : {"ublk_queues = 0", "ublk_queues = 4097", "ublk_queues = -1",
                          "ublk_queues = \"2\"", "ublk_depth = 0", "ublk_depth = 4097",
                          "ublk_depth = 65600", "ublk_depth = 1.5"}) {
    Error error = parse_error(std::string("[frontend]\n") + bad + "\n");
    std::string key = std::string(bad).substr(0, std::string(bad).find(' '));
    EXPECT_NE(error.message.find("vol.toml: [frontend] " + key), std::string::npos)
        << bad << ": " << error.message;
    EXPECT_NE(error.message.find("between 1 and 4096"), std::string::npos)
        << bad << ": " << error.message;
  }
  Error typo = parse_error("[frontend]\nublk_queue_depth = 64\n");
  EXPECT_NE(typo.message.find("ublk_depth"), std::string::npos) << "lists the known keys";
}

TEST(VolumeConfigTest, StoreTableMistakesAreReported) {
  Error store = parse_error("[store]\nregoin = \"us-east-1\"\n");
  EXPECT_NE(store.message.find("vol.toml: [store] regoin"), std::string::npos) << store.message;
  Error nested = parse_error("[store.oss]\nsignature = \"v9\"\n");
  EXPECT_NE(nested.message.find("[store.oss] signature"), std::string::npos) << nested.message;
}

TEST(VolumeConfigTest, SyntaxErrorsNameTheLine) {
  Error syntax = parse_error("[cache]\nmemory = \n");
  EXPECT_NE(syntax.message.find("vol.toml"), std::string::npos) << syntax.message;
  EXPECT_NE(syntax.message.find("line 2"), std::string::npos) << syntax.message;
}

TEST(VolumeConfigTest, MetricsListenMustBeLoopbackOrUnix) {
  for (const char* ok : {"127.0.0.1:9109", "[::1]:9109", "localhost:0", "unix:/run/shoal/m.sock"}) {
    auto c = parse_volume_config(std::string("[metrics]\nlisten = \"") + ok + "\"\n", "m.toml");
    EXPECT_TRUE(c.ok()) << ok << ": " << c.error().describe();
  }
  Error open = parse_error("[metrics]\nlisten = \"0.0.0.0:9109\"\n");
  EXPECT_NE(open.message.find("[metrics] listen"), std::string::npos) << open.message;
  EXPECT_NE(open.message.find("loopback"), std::string::npos) << open.message;
  Error relative = parse_error("[metrics]\nlisten = \"unix:m.sock\"\n");
  EXPECT_NE(relative.message.find("absolute"), std::string::npos) << relative.message;
}

TEST(VolumeConfigTest, MissingFileIsNamed) {
  auto c = load_volume_config("/nonexistent/shoal/vol.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("/nonexistent/shoal/vol.toml"), std::string::npos);
}

TEST(VolumeConfigTest, ExampleConfigsParse) {
  const std::string dir = SHOAL_SOURCE_DIR "/configs";
  for (const char* name : {"training.toml", "backtest.toml", "demo.toml"}) {
    auto c = load_volume_config(dir + "/" + name);
    ASSERT_TRUE(c.ok()) << name << ": " << c.error().describe();
  }
  auto training = load_volume_config(dir + "/training.toml");
  auto backtest = load_volume_config(dir + "/backtest.toml");
  ASSERT_TRUE(training.ok() && backtest.ok());
  EXPECT_EQ(training->engine.prefetch, PrefetchMode::kCrossFile);
  EXPECT_EQ(backtest->engine.prefetch, PrefetchMode::kNone);
  EXPECT_GT(training->cache_memory, backtest->cache_memory);
  EXPECT_TRUE(validate(training->engine, training->cache_memory).ok());
  EXPECT_TRUE(validate(backtest->engine, backtest->cache_memory).ok());
}

TEST(VolumeConfigTest, AutoFrontendFollowsTheHost) {
  EXPECT_EQ(resolve_frontend_kind("nbd"), "nbd");
  EXPECT_EQ(resolve_frontend_kind("fuse"), "fuse");
  std::vector<std::string_view> built = frontend_names();
  bool ublk = std::find(built.begin(), built.end(), "ublk") != built.end() &&
              ::access("/dev/ublk-control", F_OK) == 0;
  EXPECT_EQ(resolve_frontend_kind("auto"), ublk ? "ublk" : "fuse");
}

}  // namespace
}  // namespace shoal
