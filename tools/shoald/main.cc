// shoald: serves one volume's block device. Runs in the foreground, logging to stderr;
// `shoal mount` starts it in the background with its log in a file and waits on --ready-fd.
//
//   shoald --config FILE [flags]                    a volume config, flags override it
//   shoald --index FILE [--source URI] --frontend fuse --mountpoint DIR [flags]
//   shoald --image FILE --frontend nbd --socket PATH  debugging: a local image, no engine
#include <malloc.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "daemon/cache/memory_cache.h"
#include "daemon/volume_config.h"
#include "tools/shoald/daemon.h"

namespace {

using shoal::daemon::DaemonSettings;

struct Flags {
  std::string config;
  std::string index;
  std::string source;
  std::string frontend;
  std::string mountpoint;
  std::string socket;
  std::string address;
  int port = -1;
  std::string export_name;
  int ublk_queues = 0;
  int ublk_depth = 0;
  bool ublk_user_recovery = false;
  int ublk_recover_device = -1;
  std::string cache_memory;
  std::string prefetch;
  bool warm_all = false;
  std::string hints;
  std::string metrics;
  std::string control;
  std::string endpoint;
  std::string region;
  bool path_style = false;
  bool virtual_hosted = false;
  bool oss_v1 = false;
};

void add_flags(CLI::App& app, Flags& f, DaemonSettings& s) {
  app.add_option("--config", f.config, "Volume config (TOML); the flags below override it")
      ->check(CLI::ExistingFile);
  app.add_option("--index", f.index, "The volume's index file (shoal index build)");
  app.add_option("--source", f.source,
                 "Object-store URI of the data (default: the source recorded in the index)");
  app.add_option("--image", s.image, "Serve this EROFS image file instead (debugging, no engine)")
      ->check(CLI::ExistingFile);
  app.add_option("--frontend", f.frontend, "auto, fuse, nbd, ublk or vhost-user-blk");
  app.add_option("--mountpoint", f.mountpoint,
                 "fuse: the directory to mount, holding the device as the file 'image'");
  app.add_option("--socket", f.socket, "nbd: listen on this Unix socket");
  app.add_option("--address", f.address, "nbd: listen on this TCP address (default 127.0.0.1)");
  app.add_option("--port", f.port, "nbd: listen on this TCP port (0 picks one)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--export-name", f.export_name, "nbd: the export's name (default shoal)");
  app.add_option("--ublk-queues", f.ublk_queues,
                 "ublk: hardware queues (default 1; the kernel caps them at the CPU count)")
      ->check(CLI::Range(1, int{shoal::FrontendOptions::kUblkMaxQueues}));
  app.add_option("--ublk-depth", f.ublk_depth, "ublk: requests in flight per queue (default 128)")
      ->check(CLI::Range(1, int{shoal::FrontendOptions::kUblkMaxQueueDepth}));
  app.add_flag("--ublk-user-recovery", f.ublk_user_recovery,
               "ublk: let a restarted shoald take the device over if this one dies");
  app.add_option("--ublk-recover-device", f.ublk_recover_device,
                 "ublk: take over device N (/dev/ublkbN) whose server died, instead of adding one");
  app.add_option("--cache-memory", f.cache_memory, "Memory cache budget, e.g. 4GiB");
  app.add_option("--prefetch", f.prefetch, "cross-file, or none (direct mode)");
  app.add_flag("--warm-all", f.warm_all, "Fill the cache in layout order at start");
  app.add_option("--hints", f.hints, "File of volume paths in the order the job reads them");
  app.add_option("--metrics", f.metrics,
                 "Prometheus endpoint: 127.0.0.1:9109 or unix:/run/shoal/x.sock");
  app.add_option("--control", f.control, "Control socket path (hints, stats, shutdown)");
  app.add_option("--pid-file", s.pid_file, "Write the daemon's pid here once it serves");
  app.add_option("--ready-fd", s.ready_fd,
                 "Write \"ready\" (or \"error <message>\") to this fd once started");
  app.add_option("--endpoint", f.endpoint, "Object-store endpoint (see shoal --help)");
  app.add_option("--region", f.region, "Object-store region");
  auto* path = app.add_flag("--path-style", f.path_style, "Address buckets as host/bucket/key");
  auto* hosted = app.add_flag("--virtual-hosted", f.virtual_hosted,
                              "Address buckets as bucket.host/key");
  path->excludes(hosted);
  app.add_flag("--oss-v1", f.oss_v1, "Sign OSS requests with the V1 signature");
}

// The config file first, then every flag given on top of it.
shoal::Status apply_flags(const Flags& f, DaemonSettings& s) {
  shoal::VolumeConfig& v = s.volume;
  if (!f.config.empty()) {
    SHOAL_ASSIGN(v, shoal::load_volume_config(f.config));
  }
  if (!f.index.empty()) v.index_path = f.index;
  if (!f.source.empty()) v.source = f.source;
  if (!f.frontend.empty()) v.frontend = f.frontend;
  if (!f.mountpoint.empty()) v.frontend_options.mount_point = f.mountpoint;
  if (!f.socket.empty()) v.frontend_options.unix_socket = f.socket;
  if (!f.address.empty() || f.port >= 0) {
    v.frontend_options.tcp_address = f.address.empty() ? "127.0.0.1" : f.address;
    if (f.port >= 0) v.frontend_options.tcp_port = static_cast<uint16_t>(f.port);
  }
  if (!f.export_name.empty()) v.frontend_options.export_name = f.export_name;
  if (f.ublk_queues > 0) v.frontend_options.ublk_queues = static_cast<uint16_t>(f.ublk_queues);
  if (f.ublk_depth > 0) v.frontend_options.ublk_queue_depth = static_cast<uint16_t>(f.ublk_depth);
  if (f.ublk_user_recovery || f.ublk_recover_device >= 0)
    v.frontend_options.ublk_user_recovery = true;
  v.frontend_options.ublk_recover_device = f.ublk_recover_device;
  if (!f.cache_memory.empty()) {
    SHOAL_ASSIGN(v.cache_memory, shoal::parse_size(f.cache_memory, "--cache-memory"));
  }
  if (!f.prefetch.empty()) {
    SHOAL_ASSIGN(v.engine.prefetch, shoal::parse_prefetch_mode(f.prefetch));
  }
  if (f.warm_all) v.engine.warm_all = true;
  if (!f.hints.empty()) v.hints_file = f.hints;
  if (!f.metrics.empty()) v.metrics_listen = f.metrics;
  if (!f.control.empty()) v.control_socket = f.control;

  shoal::StoreFlags& store = s.store_flags;
  store.config_path = f.config;
  if (!f.endpoint.empty()) store.endpoint = f.endpoint;
  if (!f.region.empty()) store.region = f.region;
  if (f.path_style) store.addressing = shoal::StoreConfig::Addressing::kPath;
  if (f.virtual_hosted) store.addressing = shoal::StoreConfig::Addressing::kVirtualHosted;
  store.oss_v1 = f.oss_v1;

  if (s.image.empty() == v.index_path.empty())
    return shoal::Error(shoal::ErrorKind::kInvalidArgument,
                        s.image.empty() ? "no index: give --index FILE, [index] path in --config, "
                                          "or --image FILE"
                                        : "--image serves a plain image: give it without an index");
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  shoal::daemon::block_stop_signals();
  CLI::App app{"shoald: serves a shoal volume as a read-only block device"};
  app.set_version_flag("--version", "shoald 0.1.0");
  app.footer("Exit codes: 0 stopped cleanly, 1 could not start or failed, 2 usage or config error.");
  Flags flags;
  DaemonSettings settings;
  add_flags(app, flags, settings);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : shoal::daemon::kExitUsage;
  }
  shoal::Status applied = apply_flags(flags, settings);
  if (!applied.ok()) {
    std::cerr << "shoald: " << applied.error().describe() << "\n";
    if (settings.ready_fd >= 0) {
      std::string line = "error " + applied.error().describe() + "\n";
      ssize_t ignored = ::write(settings.ready_fd, line.data(), line.size());
      (void)ignored;
    }
    return shoal::daemon::kExitUsage;
  }
  return shoal::daemon::run_daemon(settings);
}
