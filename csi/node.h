// The CSI node service's decisions, in shoal's terms (the gRPC layer, csi/server.h, only
// converts messages): stage a volume once per node at kubelet's staging path through the volume
// lifecycle library (mount/volume.h), bind it read-only into each pod's target path, and undo
// both.
//
// Every call is idempotent and decides from what the kernel and the disk say, never from
// memory: the mount table (/proc/self/mountinfo) and the records under the state directory.
// So a plugin killed and started again carries on where the last one stopped, and the daemons
// (each shoald in a session of its own, started by mount/) keep serving meanwhile.
//
// State directory layout (--state-dir):
//   run/                 mount/'s volume records ($SHOAL_RUN_DIR): pid, device, mount point
//   index/               indexes built or fetched for volumes ($SHOAL_INDEX_DIR)
//   volumes/<hash>/      one per volume id: volume.toml (0600: may hold the access keys) and
//                        `deferred`, present while a stage waits for its first publish
//
// Threading: calls may come from any thread at once; calls for one volume id are serialised
// by a lock per volume (kubelet sends one at a time per volume, but may repeat one whose answer
// it did not see).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/result.h"
#include "csi/volume_request.h"

namespace shoal::csi {

struct NodeOptions {
  std::string node_id;
  std::string state_dir = "/run/shoal-csi";
  std::string shoald;  // the daemon binary; empty: beside this executable, else PATH
};

struct StageCall {
  std::string volume_id;
  std::string staging_path;
  Capability capability;
  StringMap attributes;  // volume_context
  StringMap secrets;
};

struct PublishCall {
  std::string volume_id;
  std::string staging_path;
  std::string target_path;
  Capability capability;
  bool readonly = false;  // ignored: every shoal publish is read-only
  StringMap attributes;
  StringMap secrets;
};

struct VolumeUsage {
  int64_t bytes_total = 0, bytes_used = 0, bytes_available = 0;
  int64_t inodes_total = 0, inodes_used = 0, inodes_available = 0;
};

class NodePlugin {
 public:
  explicit NodePlugin(NodeOptions options);

  // Points mount/ at the state directory ($SHOAL_RUN_DIR, $SHOAL_INDEX_DIR) and logs what an
  // earlier plugin left: serving volumes, dead daemons (cleaned up by their unstage), deferred
  // stages. Call once, before any other thread runs (it sets environment variables).
  Status start();

  const NodeOptions& options() const { return options_; }

  // Mounts the volume at the staging path, or, without secrets, checks the request and defers
  // the mount to the first publish (whose secrets, else the node's environment, it uses).
  Status stage(const StageCall& call);
  Status unstage(const std::string& volume_id, const std::string& staging_path);
  Status publish(const PublishCall& call);
  Status unpublish(const std::string& volume_id, const std::string& target_path);
  Result<VolumeUsage> usage(const std::string& volume_id, const std::string& path);

 private:
  std::mutex& lock_for(const std::string& volume_id);
  std::string volume_dir(const std::string& volume_id) const;
  // Mounts at call.staging_path unless it is served already.
  Status mount_staged(const std::string& volume_id, const std::string& staging_path,
                      const StringMap& attributes, const StringMap& secrets);

  NodeOptions options_;
  std::mutex locks_mutex_;
  std::map<std::string, std::unique_ptr<std::mutex>> locks_;
};

}  // namespace shoal::csi
