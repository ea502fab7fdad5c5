// The volume lifecycle every caller shares (the `shoal` CLI, the CSI node plugin): start
// shoald for an index file or a URI (indexed first), wait until it serves, attach its device
// (a loop device over the image file, or the block device the transport made), mount EROFS
// read-only, record the volume; list the recorded volumes, ask one for its stats, and tear one
// down. What a volume is made of and how its bytes are fetched stays in shoald: this side only
// knows how to start it and where to attach, and learns the latter from the daemon's `volume`
// report on the control socket.
//
// Teardown is idempotent and tolerates every piece being gone already, so it also cleans up
// after a daemon that died (kill -9 included: its FUSE mount, left failing with ENOTCONN, is
// lazily unmounted).
//
// Threading: every call blocks (forks, ioctls, mount(2), control-socket round trips) and may
// be made from any thread, but calls for the same mount point must not overlap; the caller
// serialises them (the CLI is one process per command; the CSI plugin keeps a lock per
// volume). No call starts a thread. Messages go nowhere: results and errors are values, and
// progress goes to the hooks.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "daemon/engine/engine_options.h"
#include "daemon/frontends/frontend.h"
#include "index/builder.h"
#include "mount/volume_state.h"
#include "store/config.h"

namespace shoal::mount {

// What to mount and how. Every field left empty / unset means "the config's, else shoald's
// default".
struct VolumeSpec {
  std::string source;      // an index file, or a URI to index now (oss://, s3://, file://)
  std::string mountpoint;  // an existing directory, not a mount point yet
  std::string config;      // a volume config (TOML) for shoald; its [store] also opens the URI
  std::string frontend;    // "auto" or a transport's name; empty: the config's, else "auto"
  std::optional<uint64_t> cache_memory;  // bytes
  bool cache_prefault = false;            // shoald --cache-prefault
  int workers = 0;                        // shoald --workers; 0: the config's, else shoald's default
  std::optional<PrefetchMode> prefetch;
  std::string metrics;    // Prometheus endpoint: "127.0.0.1:9109" or "unix:PATH"
  std::string index_dir;  // where an index built from a URI goes: else $SHOAL_INDEX_DIR, else
                          // /var/lib/shoal ([index] path in the config wins over both)
  StoreFlags store;       // endpoint, region, addressing, OSS V1 (config_path is `config`)
  // Transport settings handed to shoald, e.g. ublk's queues (FrontendSetting::for_mount).
  std::vector<FrontendSettingValue> frontend_settings;
  std::string shoald;  // the daemon binary; empty: beside this executable, else from PATH
  std::chrono::milliseconds ready_timeout = std::chrono::seconds(120);
};

struct MountHooks {
  // While a URI is indexed, at most every ~100 ms.
  std::function<void(const index::BuildProgress&)> index_progress;
  // Once a URI is indexed into `index_path`.
  std::function<void(const std::string& uri, const index::BuildReport&,
                     const std::string& index_path)>
      indexed;
  // Once an index object (a URI ending in .shix) is in the local cache: fetched now, or an
  // earlier mount's verified copy reused.
  std::function<void(const std::string& uri, bool fetched, const std::string& index_path)>
      index_fetched;
};

// Everything decided before the daemon starts: checks that need no cleanup when they fail.
struct LaunchPlan {
  VolumeState state;         // paths inside the state directory; pid and device still unset
  std::string state_dir;     // state_dir_of(state.mountpoint)
  bool index_built = false;  // the source was a URI: shoald is told it with --source
};

// shoald's command line for `plan` (args[0] is the binary). Pure.
std::vector<std::string> shoald_args(const VolumeSpec& spec, const LaunchPlan& plan);

// The state directory's layout for `plan.state_dir`: control socket, log, image directory.
void lay_out_state(LaunchPlan& plan);

// Starts, attaches, mounts and records the volume; on a failure after the daemon started,
// everything is torn down again and the error carries the daemon log's tail. A usage or config
// mistake (also the daemon's) is kInvalidArgument.
Result<VolumeState> mount_volume(const VolumeSpec& spec, const MountHooks& hooks = {});

// Unmounts EROFS, detaches the loop device, stops shoald, removes a FUSE mount a dead daemon
// left and the state directory. `lazy`: a busy mount is detached now and goes once its files
// are closed; otherwise a busy mount fails with a message saying so and nothing else is done.
Status teardown(const VolumeState& state, bool lazy);

// Tears down the volume recorded for `mountpoint`; kNotFound if none is.
Status unmount_volume(const std::string& mountpoint, bool lazy);

// How a recorded volume is doing.
enum class VolumeHealth {
  kServing,     // the daemon is alive and the mount point mounted
  kDaemonDead,  // the daemon is gone: teardown cleans up what it left
  kNotMounted,  // the daemon is alive but nothing is mounted at the mount point
  kUnreadable,  // the record itself cannot be read (VolumeListing::problem says why)
};
std::string_view to_string(VolumeHealth health);
// Pure: from what the caller found out.
VolumeHealth assess(bool daemon_alive, bool mounted);

struct VolumeListing {
  VolumeState state;  // for an unreadable record, only what its place says (nothing)
  VolumeHealth health = VolumeHealth::kServing;
  std::string problem;  // kUnreadable: the state file and what is wrong with it
};
// Every volume recorded under run_dir(), by mount point. An unreadable record is listed as
// kUnreadable, never left out: the user must be able to see it and clean it up.
std::vector<VolumeListing> list_volumes();
// The record for `mountpoint` (canonicalised); kNotFound if there is none.
Result<VolumeState> find_volume(const std::string& mountpoint);

// `target` is a mount point with a record, or a control socket: its metrics (Prometheus text).
Result<std::string> volume_stats(const std::string& target);

}  // namespace shoal::mount
