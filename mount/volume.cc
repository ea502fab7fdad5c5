#include "mount/volume.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "common/control.h"
#include "index/shared_index.h"
#include "daemon/volume_config.h"
#include "daemon/volume_report.h"
#include "mount/daemon_process.h"
#include "mount/loop_device.h"
#include "mount/proc.h"
#include "store/blocking_store.h"
#include "store/uri.h"

namespace shoal::mount {
namespace {

namespace fs = std::filesystem;

std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

std::string default_shoald() {
  std::error_code ec;
  fs::path beside = fs::read_symlink("/proc/self/exe", ec).parent_path() / "shoald";
  if (!ec && fs::exists(beside, ec)) return beside.string();
  return "shoald";  // from PATH
}

// One command to shoald. Like every error on the way to a daemon, one that nobody serves is a
// network error here: kNotFound is kept for "no such mount point" in volume_stats.
Result<ControlReply> ask_shoald(const std::string& socket, const std::string& command) {
  auto reply = control_request(socket, {command}, {}, std::chrono::seconds(30));
  if (!reply.ok()) {
    Error e = std::move(reply).error();
    if (e.kind == ErrorKind::kNotFound) e.kind = ErrorKind::kNetwork;
    return e.with_context(command);
  }
  return reply;
}

Status check_mountpoint(const std::string& given, const std::string& mountpoint) {
  struct stat st {};
  if (::stat(mountpoint.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Error(ErrorKind::kInvalidArgument,
                 "mount point " + given + " is not an existing directory: create it first");
  if (is_mount_point(mountpoint))
    return Error(ErrorKind::kInvalidArgument,
                 mountpoint + " is already a mount point: unmount it or pick another directory");
  return {};
}

Status check_no_record(const std::string& mountpoint) {
  std::string file = state_file_in(state_dir_of(mountpoint));
  if (!fs::exists(file)) return {};
  auto state = load_state(file);
  bool live = state.ok() && daemon_alive(state->pid);
  return Error(ErrorKind::kInvalidArgument,
               mountpoint + (live ? " is already mounted by shoal" : " has a stale shoal mount") +
                   ": run `shoal umount " + mountpoint + "` first");
}

// The transport the daemon will run, which must be one the host can attach.
Result<const FrontendType*> attachable_frontend(const VolumeSpec& spec,
                                                const VolumeConfig& config) {
  std::string kind = resolve_frontend_kind(!spec.frontend.empty() ? spec.frontend : config.frontend,
                                           config.frontend_options);
  const FrontendType* type = find_frontend_type(kind);
  std::string attachable;
  for (const FrontendType& t : frontend_types())
    if (t.attachment != Attachment::kClient)
      attachable += (attachable.empty() ? "" : " and ") + std::string(t.name);
  if (type == nullptr)
    return Error(ErrorKind::kInvalidArgument,
                 "unknown frontend '" + kind + "' (shoal mount attaches " + attachable + ")");
  if (type->attachment == Attachment::kClient)
    return Error(ErrorKind::kInvalidArgument,
                 "shoal mount attaches the " + attachable + " frontends, not '" + kind +
                     "': run shoald --frontend " + kind + " and attach a client yourself");
  return type;
}

Status build_index(const ObjectUri& uri, const VolumeSpec& spec, const MountHooks& hooks,
                   const std::string& out) {
  index::BuildOptions build;
  build.source = uri.to_string();
  build.prefix = index::directory_prefix(uri.prefix);
  build.progress = hooks.index_progress;
  StoreFlags flags = spec.store;
  flags.config_path = spec.config;
  SHOAL_ASSIGN(StoreConfig config, resolve_store_config(uri.scheme, flags, process_environment()));
  SHOAL_ASSIGN(BlockingStore store, BlockingStore::open(uri, config));
  index::ObjectCollector objects;
  index::BuildProgress progress;
  Status listed = index::list_parallel(store.async(), store.reactor(), build, objects, progress);
  if (!listed.ok()) return std::move(listed).error().with_context("indexing " + build.source);
  auto report = index::write_index(objects, build, out, progress);
  if (!report.ok()) return std::move(report).error().with_context("indexing " + build.source);
  if (hooks.indexed) hooks.indexed(build.source, *report, out);
  return {};
}

// The source is an index file, or a URI to index now (into [index] path, else the index
// directory). Sets plan.index_built for the latter.
Status index_for(const VolumeSpec& spec, const VolumeConfig& config, const MountHooks& hooks,
                 LaunchPlan& plan) {
  struct stat st {};
  if (::stat(spec.source.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    plan.state.index = canonical_path(spec.source);
    return {};
  }
  auto uri = parse_object_uri(spec.source);
  if (!uri.ok())
    return Error(ErrorKind::kInvalidArgument,
                 "SRC '" + spec.source +
                     "' is neither an index file nor a URI (oss://bucket/prefix, "
                     "s3://bucket/prefix, file:///dir)");
  std::string dir =
      !spec.index_dir.empty() ? spec.index_dir : env_or("SHOAL_INDEX_DIR", "/var/lib/shoal");
  if (uri->prefix.ends_with(".shix")) {
    // An index shared through the bucket: fetched (or reused) rather than built.
    StoreFlags flags = spec.store;
    flags.config_path = spec.config;
    SHOAL_ASSIGN(StoreConfig store_config,
                 resolve_store_config(uri->scheme, flags, process_environment()));
    SHOAL_ASSIGN(BlockingStore store, BlockingStore::open(*uri, store_config));
    Result<index::SharedIndex> shared = index::fetch_shared_index(store, *uri, dir, hex_hash);
    if (!shared.ok()) return std::move(shared).error().with_context("fetching index " + uri->to_string());
    if (hooks.index_fetched) hooks.index_fetched(uri->to_string(), shared->fetched, shared->path);
    plan.state.index = shared->path;
    return {};
  }
  std::string out = !config.index_path.empty() ? config.index_path
                                               : dir + "/" + hex_hash(uri->to_string()) + ".shix";
  std::error_code ec;
  fs::create_directories(fs::path(out).parent_path(), ec);
  if (ec)
    return Error(ErrorKind::kIo, "creating the index directory for " + out + ": " + ec.message());
  SHOAL_TRY(build_index(*uri, spec, hooks, out));
  plan.state.index = out;
  plan.index_built = true;
  return {};
}

Result<LaunchPlan> plan_volume(const VolumeSpec& spec, const MountHooks& hooks) {
  LaunchPlan plan;
  plan.state.mountpoint = canonical_path(spec.mountpoint);
  plan.state.source = spec.source;
  SHOAL_TRY(check_mountpoint(spec.mountpoint, plan.state.mountpoint));
  SHOAL_TRY(check_no_record(plan.state.mountpoint));
  VolumeConfig config;
  if (!spec.config.empty()) {
    SHOAL_ASSIGN(config, load_volume_config(spec.config));
  }
  SHOAL_ASSIGN(const FrontendType* type, attachable_frontend(spec, config));
  plan.state.frontend = std::string(type->name);
  plan.state.attachment = type->attachment;
  SHOAL_TRY(index_for(spec, config, hooks, plan));
  plan.state_dir = state_dir_of(plan.state.mountpoint);
  lay_out_state(plan);
  return plan;
}

Status make_state_dir(const LaunchPlan& plan) {
  std::error_code ec;
  fs::remove_all(plan.state_dir, ec);  // pieces of a mount that failed half-way
  fs::create_directories(plan.state_dir, ec);
  if (!ec && !plan.state.image_dir.empty()) fs::create_directories(plan.state.image_dir, ec);
  if (ec) return Error(ErrorKind::kIo, "creating " + plan.state_dir + ": " + ec.message());
  fs::permissions(plan.state_dir, fs::perms::owner_all, ec);
  return {};
}

Status mount_erofs(const std::string& device, const std::string& mountpoint) {
  if (::mount(device.c_str(), mountpoint.c_str(), "erofs", MS_RDONLY | MS_NODEV | MS_NOSUID,
              nullptr) != 0)
    return errno_error("mount -t erofs " + device + " " + mountpoint, errno);
  return {};
}

// Attaches what the daemon reports and mounts EROFS on it. No wait for a block device:
// shoald says "ready" only once its node exists.
Status attach_and_mount(VolumeState& s) {
  SHOAL_ASSIGN(ControlReply reply, ask_shoald(s.control_socket, "volume"));
  SHOAL_ASSIGN(VolumeReport report, parse_volume_report(reply));
  if (report.attachment != s.attachment)
    return Error(ErrorKind::kInternal, "shoald serves " + report.frontend + " attached as " +
                                           std::string(to_string(report.attachment)) +
                                           ", not as planned");
  if (report.attachment == Attachment::kBlockDevice) {
    s.block_device = report.path;
    return mount_erofs(s.block_device, s.mountpoint);
  }
  s.image = report.path;
  SHOAL_ASSIGN(LoopDevice loop, attach_loop(s.image));
  s.block_device = loop.path;
  // loop.fd closes on return: with the mount failed, autoclear then detaches the device.
  return mount_erofs(loop.path, s.mountpoint);
}

Status unmount_erofs(const std::string& mountpoint, bool lazy) {
  if (!is_mount_point(mountpoint)) return {};
  if (::umount2(mountpoint.c_str(), 0) == 0) return {};
  if (errno == EBUSY && lazy && ::umount2(mountpoint.c_str(), MNT_DETACH) == 0) return {};
  if (errno == EBUSY)
    return Error(ErrorKind::kIo, mountpoint + " is busy: close the files open in it (fuser -vm " +
                                     mountpoint + ") or run `shoal umount --lazy`");
  return errno_error("unmounting " + mountpoint, errno);
}

// A daemon that died leaves its FUSE mount behind (ENOTCONN); the lazy unmount removes it.
void remove_state(const std::string& dir, const VolumeState& s) {
  if (!s.image_dir.empty() && is_mount_point(s.image_dir))
    ::umount2(s.image_dir.c_str(), MNT_DETACH);
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}

}  // namespace

void lay_out_state(LaunchPlan& plan) {
  VolumeState& s = plan.state;
  s.control_socket = plan.state_dir + "/control.sock";
  s.log = plan.state_dir + "/shoald.log";
  if (s.attachment == Attachment::kImageFile) s.image_dir = plan.state_dir + "/image";
}

std::vector<std::string> shoald_args(const VolumeSpec& spec, const LaunchPlan& plan) {
  const VolumeState& s = plan.state;
  std::vector<std::string> a = {spec.shoald.empty() ? default_shoald() : spec.shoald,
                                "--index",
                                s.index,
                                "--frontend",
                                s.frontend,
                                "--control",
                                s.control_socket,
                                "--pid-file",
                                plan.state_dir + "/shoald.pid",
                                "--ready-fd",
                                "3"};
  auto add = [&a](std::string_view flag, const std::string& value) {
    if (!value.empty()) a.insert(a.end(), {std::string(flag), value});
  };
  if (plan.index_built) add("--source", spec.source);
  add("--config", spec.config);
  if (const FrontendType* type = find_frontend_type(s.frontend);
      type != nullptr && !type->image_dir_flag.empty())
    add(type->image_dir_flag, s.image_dir);
  for (const FrontendSettingValue& v : spec.frontend_settings) {
    if (v.setting == nullptr || v.setting->flag.empty()) continue;
    if (const bool* on = std::get_if<bool>(&v.value)) {
      if (*on) a.emplace_back(v.setting->flag);
    } else {
      add(v.setting->flag, format_setting_value(v.value));
    }
  }
  if (spec.cache_memory) add("--cache-memory", std::to_string(*spec.cache_memory));
  if (spec.cache_prefault) a.push_back("--cache-prefault");
  if (spec.workers > 0) add("--workers", std::to_string(spec.workers));
  if (spec.prefetch) add("--prefetch", std::string(to_string(*spec.prefetch)));
  add("--metrics", spec.metrics);
  add("--endpoint", spec.store.endpoint.value_or(""));
  add("--region", spec.store.region.value_or(""));
  if (spec.store.addressing == StoreConfig::Addressing::kPath) a.push_back("--path-style");
  if (spec.store.addressing == StoreConfig::Addressing::kVirtualHosted)
    a.push_back("--virtual-hosted");
  if (spec.store.oss_v1) a.push_back("--oss-v1");
  return a;
}

Result<VolumeState> mount_volume(const VolumeSpec& spec, const MountHooks& hooks) {
  SHOAL_ASSIGN(LaunchPlan plan, plan_volume(spec, hooks));
  SHOAL_TRY(make_state_dir(plan));
  VolumeState& s = plan.state;
  Result<int64_t> pid = start_daemon(shoald_args(spec, plan), s.log, spec.ready_timeout);
  if (!pid.ok()) {
    remove_state(plan.state_dir, s);
    return pid.error();
  }
  s.pid = *pid;
  Status mounted = attach_and_mount(s);
  if (mounted.ok()) mounted = save_state(state_file_in(plan.state_dir), s);
  if (!mounted.ok()) {
    std::string log = log_tail(s.log);
    Status ignored = teardown(s, true);
    (void)ignored;  // the mount is what failed; tearing down is best effort
    return mounted.error().with_context("daemon log:\n" + log);
  }
  return s;
}

Status teardown(const VolumeState& s, bool lazy) {
  SHOAL_TRY(unmount_erofs(s.mountpoint, lazy));
  if (s.attachment == Attachment::kImageFile) detach_loop(s.block_device, s.image);
  stop_daemon(s.pid);
  remove_state(state_dir_of(s.mountpoint), s);
  return {};
}

Result<VolumeState> find_volume(const std::string& mountpoint) {
  std::string canonical = canonical_path(mountpoint);
  std::string file = state_file_in(state_dir_of(canonical));
  if (!fs::exists(file))
    return Error(ErrorKind::kNotFound,
                 canonical + " is not mounted by shoal (no state in " + run_dir() + ")");
  return load_state(file);
}

Status unmount_volume(const std::string& mountpoint, bool lazy) {
  SHOAL_ASSIGN(VolumeState state, find_volume(mountpoint));
  return teardown(state, lazy);
}

std::string_view to_string(VolumeHealth health) {
  switch (health) {
    case VolumeHealth::kServing: return "serving";
    case VolumeHealth::kDaemonDead: return "daemon-dead";
    case VolumeHealth::kNotMounted: return "not-mounted";
    case VolumeHealth::kUnreadable: return "unreadable";
  }
  return "serving";
}

VolumeHealth assess(bool alive, bool mounted) {
  if (!alive) return VolumeHealth::kDaemonDead;
  return mounted ? VolumeHealth::kServing : VolumeHealth::kNotMounted;
}

std::vector<VolumeListing> list_volumes() {
  std::vector<VolumeListing> out;
  std::error_code ec;
  std::vector<MountEntry> mounts = read_mountinfo();
  for (const auto& entry : fs::directory_iterator(run_dir(), ec)) {
    std::string file = state_file_in(entry.path().string());
    if (!fs::exists(file, ec)) continue;
    auto state = load_state(file);
    if (!state.ok()) {
      out.push_back({VolumeState{}, VolumeHealth::kUnreadable, state.error().describe()});
      continue;
    }
    VolumeHealth health =
        assess(daemon_alive(state->pid), is_mount_point(state->mountpoint, mounts));
    out.push_back({std::move(*state), health});
  }
  std::sort(out.begin(), out.end(), [](const VolumeListing& a, const VolumeListing& b) {
    return a.state.mountpoint < b.state.mountpoint;
  });
  return out;
}

Result<std::string> volume_stats(const std::string& target) {
  struct stat st {};
  std::string socket = target;
  if (::stat(target.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
    std::string file = state_file_in(state_dir_of(canonical_path(target)));
    if (!fs::exists(file))
      return Error(ErrorKind::kNotFound,
                   target + " is neither a shoal mount point nor a control socket");
    SHOAL_ASSIGN(VolumeState s, load_state(file));
    socket = s.control_socket;
  }
  SHOAL_ASSIGN(ControlReply reply, ask_shoald(socket, "stats"));
  return std::move(reply.body);
}

}  // namespace shoal::mount
