// shoal mount | umount | stats | volumes: the command line over mount/volume.h, which does
// the work (starting shoald, attaching, mounting EROFS, recording, tearing down).
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "daemon/volume_config.h"
#include "mount/proc.h"
#include "mount/volume.h"
#include "tools/shoal/commands.h"
#include "tools/shoal/store_options.h"

namespace shoal::cli {
namespace {

struct MountOptions {
  mount::VolumeSpec spec;
  std::string cache_memory;
  bool cache_prefault = false;
  std::string prefetch;
  StoreOptions store;
  // The transport table's settings shoal mount hands on (FrontendSetting::for_mount).
  struct Setting {
    const FrontendSetting* setting;
    std::string text;
  };
  std::vector<Setting> settings;
  bool lazy = false;
  std::string target;  // stats, umount
};

int fail(std::string_view what, const Error& error) {
  return error.kind == ErrorKind::kInvalidArgument
             ? report_usage(std::string(what) + ": " + error.describe())
             : report_failure(what, error);
}

void print_progress(const index::BuildProgress& p) {
  std::fprintf(stderr, "\r\033[Kindexing: %s, %llu objects, %llu requests", p.phase,
               static_cast<unsigned long long>(p.objects),
               static_cast<unsigned long long>(p.requests));
}

void print_indexed(const std::string& uri, const index::BuildReport& r, const std::string& out) {
  if (::isatty(STDERR_FILENO)) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr,
               "shoal: indexed %s: %llu files in %llu directories (%llu skipped) in %.1f s → %s\n",
               uri.c_str(), static_cast<unsigned long long>(r.files),
               static_cast<unsigned long long>(r.directories),
               static_cast<unsigned long long>(r.skipped.size()),
               std::chrono::duration<double>(r.elapsed).count(), out.c_str());
}

// The CLI's strings become the spec's typed fields; mistakes are usage errors.
Status complete_spec(MountOptions& o) {
  mount::VolumeSpec& spec = o.spec;
  spec.cache_prefault = o.cache_prefault;
  if (!o.cache_memory.empty()) {
    SHOAL_ASSIGN(spec.cache_memory, parse_size(o.cache_memory, "--cache-memory"));
  }
  if (!o.prefetch.empty()) {
    SHOAL_ASSIGN(spec.prefetch, parse_prefetch_mode(o.prefetch));
  }
  for (const auto& [setting, text] : o.settings) {
    if (text.empty()) continue;
    SHOAL_ASSIGN(SettingValue value, parse_setting_text(*setting, text));
    spec.frontend_settings.push_back({setting, std::move(value)});
  }
  spec.config = o.store.config;
  spec.store = to_store_flags(o.store, o.store.config);
  return {};
}

int run_mount(MountOptions& o) {
  Status completed = complete_spec(o);
  if (!completed.ok()) return fail("mount " + o.spec.source, completed.error());
  mount::MountHooks hooks;
  if (::isatty(STDERR_FILENO)) hooks.index_progress = print_progress;
  hooks.indexed = print_indexed;
  hooks.index_fetched = [](const std::string& uri, bool fetched, const std::string& path) {
    std::printf("index %s: %s %s\n", uri.c_str(),
                fetched ? "fetched and verified into" : "unchanged, reusing", path.c_str());
  };
  auto volume = mount::mount_volume(o.spec, hooks);
  if (!volume.ok()) return fail("mount " + o.spec.source, volume.error());
  std::printf("mounted %s at %s (frontend %s, %s, shoald pid %lld)\n", o.spec.source.c_str(),
              volume->mountpoint.c_str(), volume->frontend.c_str(), volume->block_device.c_str(),
              static_cast<long long>(volume->pid));
  return 0;
}

int run_umount(const MountOptions& o) {
  Status done = mount::unmount_volume(o.target, o.lazy);
  if (!done.ok())
    return report_failure(
        done.error().kind == ErrorKind::kNotFound ? "umount" : "umount " + o.target, done.error());
  std::printf("unmounted %s\n", mount::canonical_path(o.target).c_str());
  return 0;
}

int run_stats(const MountOptions& o) {
  auto text = mount::volume_stats(o.target);
  if (!text.ok()) return report_failure("stats " + o.target, text.error());
  std::fwrite(text->data(), 1, text->size(), stdout);
  return 0;
}

int run_volumes() {
  std::printf("%-32s %-12s %-15s %-14s %-8s %s\n", "MOUNTPOINT", "HEALTH", "FRONTEND", "DEVICE",
              "PID", "SOURCE");
  int status = 0;
  for (const mount::VolumeListing& v : mount::list_volumes()) {
    if (v.health == mount::VolumeHealth::kUnreadable) {
      status = report_failure("volumes", Error(ErrorKind::kCorrupt, v.problem));
      continue;
    }
    std::printf("%-32s %-12s %-15s %-14s %-8lld %s\n", v.state.mountpoint.c_str(),
                std::string(mount::to_string(v.health)).c_str(), v.state.frontend.c_str(),
                v.state.block_device.c_str(), static_cast<long long>(v.state.pid),
                v.state.source.c_str());
  }
  return status;
}

}  // namespace

void register_mount(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<MountOptions>();
  CLI::App* cmd = app.add_subcommand(
      "mount", "Mount a volume read-only: shoald serves it, the kernel mounts EROFS on it");
  cmd->add_option("SRC", o->spec.source,
                  "An index file, or a URI to index now (oss://, s3://, file://)")
      ->required();
  cmd->add_option("MOUNTPOINT", o->spec.mountpoint, "An existing, empty directory")->required();
  cmd->add_option("--config", o->store.config,
                  "Volume config (TOML): cache, fetch, prefetch, [store]…")
      ->check(CLI::ExistingFile);
  cmd->add_option("--frontend", o->spec.frontend,
                  "A transport with a device to attach (default: the config's, else auto: ublk "
                  "when /dev/ublk-control exists, else fuse)");
  cmd->add_option("--cache-memory", o->cache_memory, "Memory cache budget, e.g. 4GiB");
  cmd->add_flag("--cache-prefault", o->cache_prefault,
                "Fault the whole cache budget in at start, off the serving loop");
  cmd->add_option("--workers", o->spec.workers,
                  "shoald's event loops (default: the config's, else half the CPUs it may use)")
      ->check(CLI::Range(1, WorkerOptions::kMaxWorkers));
  cmd->add_option("--prefetch", o->prefetch, "cross-file, or none (direct mode)");
  cmd->add_option("--metrics", o->spec.metrics, "Prometheus endpoint: 127.0.0.1:9109 or unix:PATH");
  // The transport settings the table marks for shoal mount, under shoald's flags.
  std::vector<std::string> owners;
  for (const FrontendSettingRef& ref : all_frontend_settings()) {
    if (!ref.setting->for_mount || ref.setting->flag.empty()) continue;
    o->settings.push_back({ref.setting, ""});
    owners.push_back(ref.type != nullptr ? std::string(ref.type->name) + ": " : "");
  }
  for (size_t i = 0; i < o->settings.size(); ++i) {
    auto& [setting, text] = o->settings[i];
    auto* option =
        cmd->add_option(std::string(setting->flag), text, owners[i] + std::string(setting->help));
    if (setting->type == FrontendSetting::Type::kInteger)
      option->check(CLI::Range(setting->min, setting->max));
  }
  cmd->add_option("--index-dir", o->spec.index_dir,
                  "Where indexes built from a URI go (default $SHOAL_INDEX_DIR, else "
                  "/var/lib/shoal)");
  add_store_flags(*cmd, o->store);
  cmd->callback([o, &exit_code] { exit_code = run_mount(*o); });
}

void register_umount(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<MountOptions>();
  CLI::App* cmd = app.add_subcommand(
      "umount", "Unmount a shoal volume: EROFS, loop device, shoald and its state, all of it");
  cmd->add_option("MOUNTPOINT", o->target, "Where the volume is mounted")->required();
  cmd->add_flag("--lazy", o->lazy, "Detach a busy mount now; it goes once its files are closed");
  cmd->callback([o, &exit_code] { exit_code = run_umount(*o); });
}

void register_stats(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<MountOptions>();
  CLI::App* cmd = app.add_subcommand("stats", "Print a mounted volume's metrics (Prometheus text)");
  cmd->add_option("TARGET", o->target, "A shoal mount point, or a shoald control socket")
      ->required();
  cmd->callback([o, &exit_code] { exit_code = run_stats(*o); });
}

void register_volumes(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand(
      "volumes", "List the volumes shoal has mounted, with their health, device and daemon");
  cmd->callback([&exit_code] { exit_code = run_volumes(); });
}

}  // namespace shoal::cli
