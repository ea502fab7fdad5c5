#include "tools/shoald/daemon.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "common/control.h"
#include "common/log.h"
#include "daemon/cache/memory_cache.h"
#include "daemon/engine/engine.h"
#include "daemon/engine/engine_workers.h"
#include "daemon/frontends/frontend.h"
#include "daemon/image_file_device.h"
#include "daemon/metrics.h"
#include "daemon/metrics_server.h"
#include "daemon/uring_reactor.h"
#include "daemon/volume_report.h"
#include "index/index_file.h"
#include "store/open_store.h"
#include "store/uri.h"

namespace shoal::shoald {
namespace {

// Volume paths, one a line; blank lines and '#' comments skipped.
std::vector<std::string> parse_path_list(std::string_view text) {
  std::vector<std::string> paths;
  std::istringstream lines{std::string(text)};
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    paths.push_back(line);
  }
  return paths;
}

Result<std::vector<std::string>> read_path_list(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno_error("hints file " + path, errno);
  std::ostringstream text;
  text << in.rdbuf();
  return parse_path_list(text.str());
}

uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

int exit_code_for(const Error& error) {
  return error.kind == ErrorKind::kInvalidArgument ? kExitUsage : kExitFailed;
}

void tell_parent(int fd, std::string_view message) {
  if (fd < 0) return;
  std::string line(message);
  line += "\n";
  ssize_t ignored = ::write(fd, line.data(), line.size());
  (void)ignored;  // the parent may have gone; the log has the story either way
  ::close(fd);
}

class Daemon {
 public:
  explicit Daemon(const DaemonSettings& settings) : settings_(settings) {}
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Starts everything. Readiness goes to the log and --ready-fd once the frontend is usable: at
  // the end of start(), or later on the loop for a frontend still coming up (ublk's START_DEV).
  Status start();
  // Runs the loop until a stop; returns the exit code (kExitFailed if the frontend never came up).
  int serve();
  void stop();

 private:
  Status open_device();
  Status open_engine();
  Status start_frontend();
  void on_frontend_ready(const Status& outcome);
  void announce_ready();
  Status start_metrics();
  Status start_control();
  Status watch_signals();
  Status write_pid_file();
  void register_daemon_metrics();
  std::string render_metrics();
  ControlReply status_reply() const;
  ControlReply volume_reply() const;
  ControlReply set_hints(std::string_view body);

  const DaemonSettings& settings_;
  // Declared in dependency order: members are destroyed bottom-up, users before what they use.
  std::unique_ptr<UringReactor> reactor_;
  Metrics metrics_;
  Gauge* resident_ = nullptr;
  std::optional<index::IndexFile> index_;
  std::string source_;
  std::unique_ptr<EngineWorkers> engine_;
  std::unique_ptr<ImageFileDevice> image_;
  BlockDevice* device_ = nullptr;
  std::string frontend_kind_;
  const FrontendType* frontend_type_ = nullptr;
  FrontendOptions frontend_options_;  // the config's, with on_ready pointing here
  std::unique_ptr<Frontend> frontend_;
  std::unique_ptr<MetricsServer> metrics_server_;
  std::unique_ptr<ControlServer> control_;
  int signal_fd_ = -1;
  bool pid_file_written_ = false;
  bool frontend_failed_ = false;
};

Daemon::~Daemon() {
  stop();
  if (signal_fd_ >= 0) {
    reactor_->unwatch(signal_fd_);
    ::close(signal_fd_);
  }
}

Status Daemon::start() {
  SHOAL_ASSIGN(reactor_, UringReactor::create());
  SHOAL_TRY(watch_signals());
  SHOAL_TRY(open_device());
  register_daemon_metrics();
  SHOAL_TRY(start_frontend());
  SHOAL_TRY(start_metrics());
  SHOAL_TRY(start_control());
  SHOAL_TRY(write_pid_file());
  if (!frontend_->ready_pending()) announce_ready();
  return {};
}

int Daemon::serve() {
  reactor_->run();
  return frontend_failed_ ? kExitFailed : 0;
}

// Frontend first: the FUSE mount must go while the device can still answer. Reads in flight
// complete harmlessly afterwards (frontend.h).
void Daemon::stop() {
  if (frontend_ != nullptr) {
    frontend_->stop();
    frontend_.reset();
  }
  control_.reset();
  metrics_server_.reset();
  if (pid_file_written_) ::unlink(settings_.pid_file.c_str());
  pid_file_written_ = false;
}

Status Daemon::watch_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  signal_fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) return errno_error("signalfd", errno);
  reactor_->watch(signal_fd_, Reactor::kReadable, [this](uint32_t) {
    signalfd_siginfo info{};
    while (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      log_info(std::string("received ") + (info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM") +
               ": stopping");
      reactor_->stop();
    }
  });
  return {};
}

Status Daemon::open_device() {
  if (!settings_.image.empty()) {
    SHOAL_ASSIGN(image_, ImageFileDevice::open(settings_.image, *reactor_));
    device_ = image_.get();
    log_info("serving the image file " + settings_.image + " (debug mode, no engine)");
    return {};
  }
  return open_engine();
}

Status Daemon::open_engine() {
  const VolumeConfig& v = settings_.volume;
  SHOAL_ASSIGN(index::IndexFile index, index::IndexFile::open(v.index_path));
  index_.emplace(std::move(index));
  source_ = v.source.empty() ? index_->build_info().source : v.source;
  if (source_.empty())
    return Error(ErrorKind::kInvalidArgument,
                 "index " + v.index_path + " records no source: give --source URI");
  SHOAL_ASSIGN(ObjectUri uri, parse_object_uri(source_));
  SHOAL_ASSIGN(StoreConfig store_config,
               resolve_store_config(uri.scheme, settings_.store_flags, process_environment()));
  BufferPool::Options pool_options;
  pool_options.prefault = v.cache_prefault;
  SHOAL_ASSIGN(std::shared_ptr<BufferPool> pool, BufferPool::create(v.cache_memory, pool_options));
  EngineOptions options = v.engine;
  if (!v.hints_file.empty()) {
    SHOAL_ASSIGN(options.hints, read_path_list(v.hints_file));
  }
  // Each worker opens its own client on its own loop: connections are never shared by threads.
  auto open_worker_store = [uri, store_config](Reactor& loop) {
    return open_store(uri, store_config, loop);
  };
  WorkerOptions workers;
  workers.workers = v.workers > 0 ? v.workers : default_worker_count();
  SHOAL_ASSIGN(engine_, EngineWorkers::start(*index_, *reactor_, open_worker_store, std::move(pool),
                                             v.cache_memory, std::move(options), metrics_,
                                             workers));
  device_ = engine_.get();
  log_info("index " + v.index_path + ": " + std::to_string(index_->summary().object_count) +
           " objects, " + std::to_string(index_->device_bytes()) + "-byte device; source " +
           source_ + "; cache " + std::to_string(v.cache_memory) + " bytes, prefetch " +
           std::string(to_string(v.engine.prefetch)) + ", " + std::to_string(engine_->count()) +
           (engine_->count() == 1 ? " worker" : " workers"));
  return {};
}

Status Daemon::start_frontend() {
  const VolumeConfig& v = settings_.volume;
  frontend_kind_ = resolve_frontend_kind(v.frontend, v.frontend_options);
  frontend_type_ = find_frontend_type(frontend_kind_);
  if (frontend_type_ != nullptr) SHOAL_TRY(frontend_type_->check(v.frontend_options));
  frontend_options_ = v.frontend_options;
  frontend_options_.on_ready = [this](const Status& outcome) { on_frontend_ready(outcome); };
  SHOAL_ASSIGN(frontend_, make_frontend(frontend_kind_, frontend_options_, *reactor_, *device_));
  Status started = frontend_->start();
  if (!started.ok()) {
    frontend_.reset();
    return std::move(started).error().with_context("starting the " + frontend_kind_ +
                                                    " frontend");
  }
  log_info("serving " + frontend_->describe());
  return {};
}

void Daemon::on_frontend_ready(const Status& outcome) {
  if (outcome.ok()) {
    announce_ready();
    return;
  }
  Error error = outcome.error().with_context("starting the " + frontend_kind_ + " frontend");
  log_error("cannot start: " + error.describe());
  tell_parent(settings_.ready_fd, "error " + error.describe());
  frontend_failed_ = true;
  reactor_->stop();
}

void Daemon::announce_ready() {
  log_info("ready");
  tell_parent(settings_.ready_fd, "ready");
}

Status Daemon::start_metrics() {
  const std::string& listen = settings_.volume.metrics_listen;
  if (listen.empty()) return {};
  auto server = MetricsServer::start(listen, *reactor_, [this] { return render_metrics(); });
  if (!server.ok()) return std::move(server).error().with_context("metrics endpoint");
  metrics_server_ = std::move(*server);
  log_info("metrics on " + metrics_server_->describe());
  return {};
}

Status Daemon::start_control() {
  const std::string& path = settings_.volume.control_socket;
  if (path.empty()) return {};
  // Synchronous, all of them: the daemon's answers are at hand on the loop.
  std::vector<ControlCommand> commands;
  commands.push_back(
      ControlCommand::sync("status", [this](const ControlRequest&) { return status_reply(); }));
  commands.push_back(
      ControlCommand::sync("volume", [this](const ControlRequest&) { return volume_reply(); }));
  commands.push_back(ControlCommand::sync("stats", [this](const ControlRequest&) {
    return ControlReply::document(render_metrics());
  }));
  commands.push_back(ControlCommand::sync(
      "hints", [this](const ControlRequest& r) { return set_hints(r.body); }, true));
  commands.push_back(ControlCommand::sync("shutdown", [this](const ControlRequest&) {
    log_info("shutdown requested on the control socket: stopping");
    reactor_->stop();
    return ControlReply();
  }));
  auto control = ControlServer::listen(*reactor_, path, std::move(commands));
  if (!control.ok()) return std::move(control).error().with_context("control socket");
  control_ = std::move(*control);
  log_info("control socket " + path);
  return {};
}

Status Daemon::write_pid_file() {
  if (settings_.pid_file.empty()) return {};
  std::ofstream out(settings_.pid_file, std::ios::trunc);
  out << ::getpid() << "\n";
  out.close();
  if (!out) return errno_error("writing the pid file " + settings_.pid_file, errno);
  pid_file_written_ = true;
  return {};
}

void Daemon::register_daemon_metrics() {
  metrics_
      .gauge("shoal_daemon_device_bytes", "Size of the block device the daemon serves")
      .set(static_cast<int64_t>(device_->size_bytes()));
  metrics_
      .gauge("shoal_daemon_start_time_seconds", "When the daemon started, in Unix seconds")
      .set(std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count());
  if (engine_ != nullptr) {
    metrics_.gauge("shoal_daemon_cache_budget_bytes", "The memory cache's byte budget")
        .set(static_cast<int64_t>(engine_->cache_budget()));
    metrics_.gauge("shoal_daemon_workers", "Event loops serving the volume")
        .set(engine_->count());
  }
  resident_ = &metrics_.gauge("process_resident_memory_bytes", "Resident memory of the daemon");
}

std::string Daemon::render_metrics() {
  resident_->set(static_cast<int64_t>(resident_bytes()));
  return metrics_.render_prometheus();
}

ControlReply Daemon::status_reply() const {
  ControlReply r;
  r.add("pid", std::to_string(::getpid()));
  r.add("frontend", frontend_ ? frontend_->describe() : std::string("stopped"));
  r.add("device_bytes", std::to_string(device_->size_bytes()));
  if (index_) {
    r.add("index", settings_.volume.index_path);
    r.add("source", source_);
  }
  if (image_) r.add("image", settings_.image);
  if (engine_) {
    r.add("cache_budget_bytes", std::to_string(engine_->cache_budget()));
    r.add("workers", std::to_string(engine_->count()));
    r.add("prefetch_window", std::to_string(engine_->prefetch_window()));
  }
  if (metrics_server_) r.add("metrics", metrics_server_->describe());
  return r;
}

// The typed twin of status_reply()'s frontend field: what `shoal mount` attaches to.
ControlReply Daemon::volume_reply() const {
  if (frontend_ == nullptr || frontend_type_ == nullptr)
    return ControlReply::failure(
        Error(ErrorKind::kUnsupported, "the frontend is not serving").describe());
  VolumeReport report;
  report.frontend = std::string(frontend_type_->name);
  report.attachment = frontend_type_->attachment;
  report.path = frontend_->attach_path();
  report.device_bytes = device_->size_bytes();
  report.pid = ::getpid();
  return format_volume_report(report);
}

ControlReply Daemon::set_hints(std::string_view body) {
  if (engine_ == nullptr)
    return ControlReply::failure(
        Error(ErrorKind::kUnsupported, "hints need the engine: this daemon serves an image file")
            .describe());
  std::vector<std::string> paths = parse_path_list(body);
  HintReport report = engine_->set_hints(paths);
  log_info("hint list of " + std::to_string(paths.size()) + " paths: " +
           std::to_string(report.matched) + " matched, " + std::to_string(report.unknown.size()) +
           " unknown");
  ControlReply r;
  r.add("matched", std::to_string(report.matched));
  r.add("unknown", std::to_string(report.unknown.size()));
  for (const std::string& path : report.unknown) r.add("unknown_path", path);
  return r;
}

}  // namespace

void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

int run_daemon(const DaemonSettings& settings) {
  set_log_program("shoald");
  Daemon daemon(settings);
  Status started = daemon.start();
  if (!started.ok()) {
    log_error("cannot start: " + started.error().describe());
    tell_parent(settings.ready_fd, "error " + started.error().describe());
    return exit_code_for(started.error());
  }
  int exit_code = daemon.serve();
  daemon.stop();
  log_info("stopped");
  return exit_code;
}

}  // namespace shoal::shoald
