#include "csi/node.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "common/fd_io.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "mount/proc.h"
#include "mount/volume.h"
#include "mount/volume_state.h"

namespace shoal::csi {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

Error invalid(std::string message) { return Error(ErrorKind::kInvalidArgument, std::move(message)); }

Status require(const std::string& value, std::string_view field) {
  if (value.empty()) return invalid(std::string(field) + " is missing");
  if (field.ends_with("path") && !value.starts_with('/'))
    return invalid(std::string(field) + " '" + value + "' is not an absolute path");
  return {};
}

Status make_private_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error(ErrorKind::kIo, "creating " + dir + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);
  return {};
}

// Written to a temporary file created 0600 and renamed, so the keys are never readable by
// anyone else, not even for a moment, and a reader never sees half a file.
Status write_private_file(const std::string& path, std::string_view text) {
  std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return errno_error("creating " + tmp, errno);
  SHOAL_TRY(write_all(fd.get(), text, tmp));
  if (::fsync(fd.get()) != 0) return errno_error("fsync " + tmp, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return errno_error("renaming " + tmp, errno);
  return {};
}

// The type of the file system mounted at `path` (the last one when stacked), "" if none.
std::string mounted_type(const std::string& path) {
  std::string type;
  for (const mount::MountEntry& m : mount::read_mountinfo())
    if (m.mount_point == path) type = m.fs_type;
  return type;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Undoes a bind mount (every one stacked there), lazily when a process still has files open
// in it: the pod is gone by the time kubelet unpublishes, so whatever holds it is leaving too.
Status unmount_all(const std::string& path) {
  while (mount::is_mount_point(path)) {
    if (::umount2(path.c_str(), 0) == 0) continue;
    if (errno == EBUSY && ::umount2(path.c_str(), MNT_DETACH) == 0) continue;
    return errno_error("unmounting " + path, errno);
  }
  return {};
}

// A read-only bind mount of `from` at `to`. The bind takes the source's flags only on a
// remount, so read-only is applied in a second step (as mount(8) does).
Status bind_read_only(const std::string& from, const std::string& to) {
  if (::mount(from.c_str(), to.c_str(), nullptr, MS_BIND, nullptr) != 0)
    return errno_error("bind-mounting " + from + " at " + to, errno);
  if (::mount(nullptr, to.c_str(), nullptr,
              MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0) {
    int err = errno;
    ::umount2(to.c_str(), MNT_DETACH);
    return errno_error("making the bind mount at " + to + " read-only", err);
  }
  return {};
}

void log_progress(const std::string& volume_id, const index::BuildProgress& p, Clock::time_point& last) {
  auto now = Clock::now();
  if (now - last < std::chrono::seconds(2)) return;
  last = now;
  log_info("volume " + volume_id + ": indexing, " + p.phase + ": " + std::to_string(p.objects) +
           " objects, " + std::to_string(p.requests) + " list requests");
}

}  // namespace

NodePlugin::NodePlugin(NodeOptions options) : options_(std::move(options)) {}

Status NodePlugin::start() {
  SHOAL_TRY(make_private_dir(options_.state_dir + "/run"));
  SHOAL_TRY(make_private_dir(options_.state_dir + "/index"));
  SHOAL_TRY(make_private_dir(options_.state_dir + "/volumes"));
  // mount/ finds its records and puts its indexes through these: one state directory, which
  // survives the plugin (a host path in the DaemonSet).
  ::setenv("SHOAL_RUN_DIR", (options_.state_dir + "/run").c_str(), 1);
  ::setenv("SHOAL_INDEX_DIR", (options_.state_dir + "/index").c_str(), 1);
  for (const mount::VolumeListing& v : mount::list_volumes()) {
    if (v.health == mount::VolumeHealth::kUnreadable) {
      log_warning("unreadable volume record: " + v.problem);
      continue;
    }
    log_info("found volume at " + v.state.mountpoint + " (shoald " + std::to_string(v.state.pid) +
             "): " + std::string(mount::to_string(v.health)) +
             (v.health == mount::VolumeHealth::kServing ? ""
                                                        : "; its unstage or next stage cleans up"));
  }
  return {};
}

std::mutex& NodePlugin::lock_for(const std::string& volume_id) {
  std::lock_guard guard(locks_mutex_);
  auto& slot = locks_[volume_id];
  if (!slot) slot = std::make_unique<std::mutex>();
  return *slot;
}

std::string NodePlugin::volume_dir(const std::string& volume_id) const {
  return options_.state_dir + "/volumes/" + mount::hex_hash(volume_id);
}

Status NodePlugin::mount_staged(const std::string& volume_id, const std::string& staging_path,
                                const StringMap& attributes, const StringMap& secrets) {
  std::string staging = mount::canonical_path(staging_path);
  auto record = mount::find_volume(staging);
  if (record.ok()) {
    if (mount::daemon_alive(record->pid) && mount::is_mount_point(staging)) return {};
    log_warning("volume " + volume_id + ": the daemon at " + staging +
                " is gone; cleaning up and staging again");
    SHOAL_TRY(mount::teardown(*record, true));
  } else if (record.error().kind != ErrorKind::kNotFound) {
    return record.error();
  } else if (mount::is_mount_point(staging)) {
    return Error(ErrorKind::kPreconditionFailed,
                 staging + " is already a mount point, not one of shoal's: unmount it first");
  }
  SHOAL_ASSIGN(VolumeRequest request, parse_volume_request(attributes, secrets));
  std::string dir = volume_dir(volume_id);
  SHOAL_TRY(make_private_dir(dir));
  std::string config = dir + "/volume.toml";
  SHOAL_TRY(write_private_file(config, request.config_toml));
  std::error_code ec;
  fs::create_directories(staging, ec);

  mount::VolumeSpec spec;
  spec.source = request.source;
  spec.mountpoint = staging;
  spec.config = config;
  spec.frontend = request.frontend;
  spec.cache_memory = request.cache_memory;
  spec.prefetch = request.prefetch;
  spec.index_dir = options_.state_dir + "/index";
  spec.shoald = options_.shoald;
  Clock::time_point last = Clock::now();
  mount::MountHooks hooks;
  hooks.index_progress = [&](const index::BuildProgress& p) { log_progress(volume_id, p, last); };
  hooks.indexed = [&](const std::string& uri, const index::BuildReport&, const std::string& path) {
    log_info("volume " + volume_id + ": indexed " + uri + " into " + path);
  };
  hooks.index_fetched = [&](const std::string& uri, bool fetched, const std::string& path) {
    log_info("volume " + volume_id + ": index " + uri + (fetched ? " fetched" : " reused") +
             " at " + path);
  };
  log_info("volume " + volume_id + ": staging " + request.source + " at " + staging +
           (request.credentials ? " with the request's access keys"
                                : " with the node's credentials"));
  auto state = mount::mount_volume(spec, hooks);
  if (!state.ok()) {
    ::unlink(config.c_str());  // it may hold keys: kept only while a volume uses it
    return state.error().with_context("staging volume " + volume_id + " (bucket " +
                                      request.bucket + ", " + request.source + ")");
  }
  log_info("volume " + volume_id + ": staged at " + staging + ", shoald " +
           std::to_string(state->pid) + " on " + state->block_device);
  return {};
}

Status NodePlugin::stage(const StageCall& call) {
  SHOAL_TRY(require(call.volume_id, "volume_id"));
  SHOAL_TRY(require(call.staging_path, "staging_target_path"));
  SHOAL_TRY(check_capability(call.capability));
  // Everything the attributes say is checked now, even when the mount waits for a publish.
  SHOAL_TRY(parse_volume_request(call.attributes, call.secrets));
  std::lock_guard guard(lock_for(call.volume_id));
  std::string deferred = volume_dir(call.volume_id) + "/deferred";
  if (call.secrets.empty()) {
    std::string staging = mount::canonical_path(call.staging_path);
    if (auto record = mount::find_volume(staging);
        record.ok() && mount::daemon_alive(record->pid) && mount::is_mount_point(staging))
      return {};
    // kubelet sends nodePublishSecretRef's keys only with NodePublishVolume (the ACK example),
    // so the volume is mounted by the first publish, with those keys or the node's.
    SHOAL_TRY(make_private_dir(volume_dir(call.volume_id)));
    SHOAL_TRY(write_private_file(deferred, staging + "\n"));
    log_info("volume " + call.volume_id + ": stage at " + staging +
             " deferred to the first publish (no secrets in NodeStageVolume)");
    return {};
  }
  SHOAL_TRY(mount_staged(call.volume_id, call.staging_path, call.attributes, call.secrets));
  ::unlink(deferred.c_str());
  return {};
}

Status NodePlugin::unstage(const std::string& volume_id, const std::string& staging_path) {
  SHOAL_TRY(require(volume_id, "volume_id"));
  SHOAL_TRY(require(staging_path, "staging_target_path"));
  std::lock_guard guard(lock_for(volume_id));
  std::string staging = mount::canonical_path(staging_path);
  auto record = mount::find_volume(staging);
  if (record.ok()) {
    SHOAL_TRY(mount::teardown(*record, true));
    log_info("volume " + volume_id + ": unstaged from " + staging);
  } else if (record.error().kind != ErrorKind::kNotFound) {
    return record.error();
  }
  std::error_code ec;
  fs::remove_all(volume_dir(volume_id), ec);
  return {};
}

Status NodePlugin::publish(const PublishCall& call) {
  SHOAL_TRY(require(call.volume_id, "volume_id"));
  SHOAL_TRY(require(call.target_path, "target_path"));
  SHOAL_TRY(check_capability(call.capability));
  if (call.staging_path.empty())
    return Error(ErrorKind::kPreconditionFailed,
                 "staging_target_path is missing: shoal-csi stages volumes (STAGE_UNSTAGE_VOLUME), "
                 "call NodeStageVolume first");
  SHOAL_TRY(require(call.staging_path, "staging_target_path"));
  std::lock_guard guard(lock_for(call.volume_id));
  std::string target = mount::canonical_path(call.target_path);
  if (std::string type = mounted_type(target); type == "erofs") {
    return {};  // published already (kubelet repeats a call whose answer it lost)
  } else if (!type.empty()) {
    return Error(ErrorKind::kPreconditionFailed,
                 target + " is already a mount point (" + type + "), not a shoal volume");
  }
  std::string staging = mount::canonical_path(call.staging_path);
  auto record = mount::find_volume(staging);
  bool served = record.ok() && mount::daemon_alive(record->pid) && mount::is_mount_point(staging);
  std::string deferred = volume_dir(call.volume_id) + "/deferred";
  if (!served) {
    if (!exists(deferred)) {
      if (record.ok())
        return Error(ErrorKind::kServer, "volume " + call.volume_id + ": the daemon serving " +
                                             staging + " is gone (its log: " + record->log +
                                             "); delete the pods using it so kubelet stages "
                                             "it again");
      return Error(ErrorKind::kNotFound, "volume " + call.volume_id + " is not staged at " +
                                             staging + ": call NodeStageVolume first");
    }
    SHOAL_TRY(mount_staged(call.volume_id, staging, call.attributes, call.secrets));
    ::unlink(deferred.c_str());
  }
  std::error_code ec;
  fs::create_directories(target, ec);
  if (ec) return Error(ErrorKind::kIo, "creating " + target + ": " + ec.message());
  SHOAL_TRY(bind_read_only(staging, target));
  log_info("volume " + call.volume_id + ": published read-only at " + target);
  return {};
}

Status NodePlugin::unpublish(const std::string& volume_id, const std::string& target_path) {
  SHOAL_TRY(require(volume_id, "volume_id"));
  SHOAL_TRY(require(target_path, "target_path"));
  std::lock_guard guard(lock_for(volume_id));
  std::string target = mount::canonical_path(target_path);
  SHOAL_TRY(unmount_all(target));
  // The plugin created the target directory, so it removes it (the spec asks for it).
  if (::rmdir(target.c_str()) != 0 && errno != ENOENT)
    return errno_error("removing " + target, errno);
  log_info("volume " + volume_id + ": unpublished from " + target);
  return {};
}

Result<VolumeUsage> NodePlugin::usage(const std::string& volume_id, const std::string& path) {
  SHOAL_TRY(require(volume_id, "volume_id"));
  SHOAL_TRY(require(path, "volume_path"));
  std::string canonical = mount::canonical_path(path);
  if (!mount::is_mount_point(canonical))
    return Error(ErrorKind::kNotFound,
                 "volume " + volume_id + " is not mounted at " + canonical);
  struct statvfs st {};
  if (::statvfs(canonical.c_str(), &st) != 0) return errno_error("statvfs " + canonical, errno);
  VolumeUsage u;
  auto unit = static_cast<int64_t>(st.f_frsize);
  u.bytes_total = static_cast<int64_t>(st.f_blocks) * unit;
  u.bytes_available = static_cast<int64_t>(st.f_bavail) * unit;
  u.bytes_used = u.bytes_total - static_cast<int64_t>(st.f_bfree) * unit;
  u.inodes_total = static_cast<int64_t>(st.f_files);
  u.inodes_available = static_cast<int64_t>(st.f_favail);
  u.inodes_used = u.inodes_total - static_cast<int64_t>(st.f_ffree);
  return u;
}

}  // namespace shoal::csi
