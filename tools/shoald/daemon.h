// shoald's life: open the device (the engine over an index and a store, or a plain image file
// for debugging), start the frontend, the metrics endpoint and the control socket, signal
// readiness, serve on one UringReactor until SIGTERM / SIGINT / `shutdown`, then tear down in
// reverse order (frontend first, so the FUSE mount goes before the device).
#pragma once

#include <string>

#include "daemon/volume_config.h"
#include "store/config.h"

namespace shoal::shoald {

inline constexpr int kExitFailed = 1;  // could not start (corrupt index, no /dev/fuse, …)
inline constexpr int kExitUsage = 2;   // bad command line or config

struct DaemonSettings {
  VolumeConfig volume;     // the config file with the command-line flags applied
  std::string image;       // --image: serve this file instead of an index (debugging)
  StoreFlags store_flags;  // --endpoint, --region, …; config_path is the volume config
  std::string pid_file;    // written once serving, removed on exit
  // Gets "ready\n" once clients can use the frontend (ublk: /dev/ublkbN exists), or
  // "error <message>\n", then is closed.
  int ready_fd = -1;
};

// Blocks SIGTERM and SIGINT for the whole process so they arrive through a signalfd on the
// loop. Call first in main(), before anything can start a thread.
void block_stop_signals();

// Runs the daemon to the end; returns the process exit code (0 after a clean stop).
int run_daemon(const DaemonSettings& settings);

}  // namespace shoal::shoald
