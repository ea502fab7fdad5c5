// shoald: serves one volume's block device. Runs in the foreground, logging to stderr;
// `shoal mount` starts it in the background with its log in a file and waits on --ready-fd.
//
//   shoald --config FILE [flags]                    a volume config, flags override it
//   shoald --index FILE [--source URI] --frontend fuse --mountpoint DIR [flags]
//   shoald --image FILE --frontend nbd --socket PATH  debugging: a local image, no engine
#include <malloc.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <vector>

#include "daemon/cache/memory_cache.h"
#include "daemon/volume_config.h"
#include "tools/common/store_flags.h"
#include "tools/shoald/daemon.h"

namespace {

using shoal::shoald::DaemonSettings;

struct Flags {
  std::string config;
  std::string index;
  std::string source;
  std::string frontend;
  // The transport table's flags: one CLI11 option per distinct flag, applied to every setting
  // that declares it.
  struct FrontendFlag {
    std::vector<const shoal::FrontendSetting*> settings;
    std::string text;
    bool set = false;
    CLI::Option* option = nullptr;
  };
  std::vector<FrontendFlag> frontend_flags;
  std::string cache_memory;
  bool cache_prefault = false;
  int workers = 0;
  std::string prefetch;
  bool warm_all = false;
  std::string hints;
  std::string metrics;
  std::string control;
  shoal::cli::StoreFlagValues store;
};

// "nbd, vhost-user-blk: listen on this Unix socket": the transports a flag belongs to, then
// what it does.
void add_frontend_flags(CLI::App& app, Flags& f) {
  std::vector<std::string> prefixes;
  for (const shoal::FrontendSettingRef& ref : shoal::all_frontend_settings()) {
    const shoal::FrontendSetting* setting = ref.setting;
    if (setting->flag.empty()) continue;
    std::string owner = ref.type != nullptr ? std::string(ref.type->name) : "";
    auto same = [&](const Flags::FrontendFlag& existing) {
      return existing.settings.front()->flag == setting->flag;
    };
    auto it = std::find_if(f.frontend_flags.begin(), f.frontend_flags.end(), same);
    if (it != f.frontend_flags.end()) {
      it->settings.push_back(setting);
      std::string& prefix = prefixes[static_cast<size_t>(it - f.frontend_flags.begin())];
      if (!owner.empty()) prefix += ", " + owner;
      continue;
    }
    f.frontend_flags.push_back({{setting}, "", false, nullptr});
    prefixes.push_back(owner);
  }
  // Options are added once the list is complete: CLI11 keeps pointers into it.
  for (size_t i = 0; i < f.frontend_flags.size(); ++i) {
    Flags::FrontendFlag& flag = f.frontend_flags[i];
    const shoal::FrontendSetting& first = *flag.settings.front();
    std::string help = (prefixes[i].empty() ? "" : prefixes[i] + ": ") + std::string(first.help);
    std::string name(first.flag);
    if (first.type == shoal::FrontendSetting::Type::kBool) {
      flag.option = app.add_flag(name, flag.set, help);
    } else {
      flag.option = app.add_option(name, flag.text, help);
      if (first.type == shoal::FrontendSetting::Type::kInteger)
        flag.option->check(CLI::Range(first.min, first.max));
    }
  }
}

shoal::Status apply_frontend_flags(const Flags& f, shoal::FrontendOptions& options) {
  for (const Flags::FrontendFlag& flag : f.frontend_flags) {
    if (flag.option->count() == 0) continue;
    for (const shoal::FrontendSetting* setting : flag.settings) {
      shoal::SettingValue value = true;
      if (setting->type != shoal::FrontendSetting::Type::kBool) {
        SHOAL_ASSIGN(value, shoal::parse_setting_text(*setting, flag.text));
      }
      setting->apply(options, value);
    }
  }
  return {};
}

void add_flags(CLI::App& app, Flags& f, DaemonSettings& s) {
  app.add_option("--config", f.config, "Volume config (TOML); the flags below override it")
      ->check(CLI::ExistingFile);
  app.add_option("--index", f.index, "The volume's index file (shoal index build)");
  app.add_option("--source", f.source,
                 "Object-store URI of the data (default: the source recorded in the index)");
  app.add_option("--image", s.image, "Serve this EROFS image file instead (debugging, no engine)")
      ->check(CLI::ExistingFile);
  std::string kinds = "auto";
  for (std::string_view name : shoal::frontend_names()) kinds += ", " + std::string(name);
  app.add_option("--frontend", f.frontend, kinds);
  add_frontend_flags(app, f);
  app.add_option("--cache-memory", f.cache_memory, "Memory cache budget, e.g. 4GiB");
  app.add_flag("--cache-prefault", f.cache_prefault,
               "Fault the whole cache budget in at start, on a thread of its own");
  app.add_option("--workers", f.workers,
                 "Event loops serving the volume, each with its own store connections and share "
                 "of the cache (default: half the CPUs shoald may use, 1 to 16)")
      ->check(CLI::Range(1, shoal::WorkerOptions::kMaxWorkers));
  app.add_option("--prefetch", f.prefetch, "cross-file, or none (direct mode)");
  app.add_flag("--warm-all", f.warm_all, "Fill the cache in layout order at start");
  app.add_option("--hints", f.hints, "File of volume paths in the order the job reads them");
  app.add_option("--metrics", f.metrics,
                 "Prometheus endpoint: 127.0.0.1:9109 or unix:/run/shoal/x.sock");
  app.add_option("--control", f.control, "Control socket path (hints, stats, shutdown)");
  app.add_option("--pid-file", s.pid_file, "Write the daemon's pid here once it serves");
  app.add_option("--ready-fd", s.ready_fd,
                 "Write \"ready\" (or \"error <message>\") to this fd once started");
  shoal::cli::add_store_flags(app, f.store);
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
  SHOAL_TRY(apply_frontend_flags(f, v.frontend_options));
  if (!f.cache_memory.empty()) {
    SHOAL_ASSIGN(v.cache_memory, shoal::parse_size(f.cache_memory, "--cache-memory"));
  }
  if (f.cache_prefault) v.cache_prefault = true;
  if (f.workers > 0) v.workers = f.workers;
  if (!f.prefetch.empty()) {
    SHOAL_ASSIGN(v.engine.prefetch, shoal::parse_prefetch_mode(f.prefetch));
  }
  if (f.warm_all) v.engine.warm_all = true;
  if (!f.hints.empty()) v.hints_file = f.hints;
  if (!f.metrics.empty()) v.metrics_listen = f.metrics;
  if (!f.control.empty()) v.control_socket = f.control;

  s.store_flags = shoal::cli::to_store_flags(f.store, f.config);

  if (s.image.empty() == v.index_path.empty())
    return shoal::Error(shoal::ErrorKind::kInvalidArgument,
                        s.image.empty() ? "no index: give --index FILE, [index] path in --config, "
                                          "or --image FILE"
                                        : "--image serves a plain image: give it without an index");
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  shoal::shoald::block_stop_signals();
  CLI::App app{"shoald: serves a shoal volume as a read-only block device"};
  app.set_version_flag("--version", "shoald 0.1.0");
  app.footer("Exit codes: 0 stopped cleanly, 1 could not start or failed, 2 usage or config error.");
  Flags flags;
  DaemonSettings settings;
  add_flags(app, flags, settings);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : shoal::shoald::kExitUsage;
  }
  shoal::Status applied = apply_flags(flags, settings);
  if (!applied.ok()) {
    std::cerr << "shoald: " << applied.error().describe() << "\n";
    if (settings.ready_fd >= 0) {
      std::string line = "error " + applied.error().describe() + "\n";
      ssize_t ignored = ::write(settings.ready_fd, line.data(), line.size());
      (void)ignored;
    }
    return shoal::shoald::kExitUsage;
  }
  return shoal::shoald::run_daemon(settings);
}
