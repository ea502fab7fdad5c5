// shoal mount | umount | stats: a volume mounted with one command and torn down with another.
//
// mount:   SRC (index file, or URI indexed on the fly) → shoald in the background (its log and
//          sockets in a private state directory) → a loop device over the FUSE image file, or
//          the ublk disk → EROFS mounted read-only → the state recorded for umount.
// umount:  EROFS unmounted, loop device detached, shoald stopped (SIGTERM, then SIGKILL), a
//          FUSE mount a dead daemon left behind lazily unmounted, the state directory removed.
//          Every step tolerates its object being gone already, so umount also cleans up after
//          a daemon that died.
// State lives in $SHOAL_RUN_DIR (default /run/shoal)/<hash of the mount point>/.
#include <fcntl.h>
#include <linux/loop.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <toml++/toml.h>
#include <vector>

#include "daemon/control_socket.h"
#include "daemon/volume_config.h"
#include "index/builder.h"
#include "store/uri.h"
#include "tools/shoal/commands.h"
#include "tools/shoal/store_options.h"

namespace shoal::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr auto kReadyTimeout = std::chrono::seconds(120);
constexpr auto kStopTimeout = std::chrono::seconds(15);

struct MountOptions {
  std::string source;
  std::string mountpoint;
  std::string config;
  std::string frontend;
  std::string cache_memory;
  std::string prefetch;
  std::string metrics;
  std::string index_dir;
  int ublk_queues = 0;  // 0: the config's, else shoald's default
  int ublk_depth = 0;
  StoreOptions store;
  bool lazy = false;
  std::string target;  // stats
};

// What umount and stats need to find a mount's pieces again.
struct MountState {
  std::string mountpoint;
  int64_t pid = 0;
  std::string frontend;
  std::string fuse_dir;
  std::string image;
  std::string block_device;  // the loop device (fuse) or the ublk disk
  std::string control_socket;
  std::string log;
  std::string index;
  std::string source;
  bool source_is_uri = false;  // SRC was indexed now (not saved: only mount needs it)
};

std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

std::string run_dir() { return env_or("SHOAL_RUN_DIR", "/run/shoal"); }

std::string hex_hash(std::string_view text) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(XXH3_64bits(text.data(), text.size())));
  return buf;
}

std::string state_dir_of(const std::string& mountpoint) {
  return run_dir() + "/" + hex_hash(mountpoint);
}

// The mount point as the kernel names it: symlinks resolved when it exists, else made absolute.
std::string canonical_path(const std::string& path) {
  std::error_code ec;
  fs::path resolved = fs::canonical(path, ec);
  if (ec) resolved = fs::absolute(path, ec).lexically_normal();
  std::string out = resolved.string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

bool is_mount_point(const std::string& path) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    std::istringstream fields(line);
    std::string id, parent, devices, root, mount_point;
    fields >> id >> parent >> devices >> root >> mount_point;
    if (mount_point == path) return true;
  }
  return false;
}

// A live shoald (not a zombie, not a recycled pid running something else).
bool daemon_alive(int64_t pid) {
  if (pid <= 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  size_t paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] == 'Z') return false;
  return line.find("(shoald)") != std::string::npos;
}

Status save_state(const std::string& path, const MountState& s) {
  toml::table t{{"mountpoint", s.mountpoint},       {"pid", s.pid},
                {"frontend", s.frontend},           {"fuse_dir", s.fuse_dir},
                {"image", s.image},                 {"block_device", s.block_device},
                {"control_socket", s.control_socket}, {"log", s.log},
                {"index", s.index},                 {"source", s.source}};
  std::string temp = path + ".tmp";
  std::ofstream out(temp, std::ios::trunc);
  out << t << "\n";
  out.close();
  if (!out || ::rename(temp.c_str(), path.c_str()) != 0)
    return errno_error("writing the mount state " + path, errno);
  return {};
}

Result<MountState> load_state(const std::string& path) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return Error(ErrorKind::kCorrupt, "mount state " + path + ": " + std::string(e.description()));
  }
  MountState s;
  auto str = [&t](const char* key) { return t[key].value_or(std::string()); };
  s.mountpoint = str("mountpoint");
  s.pid = t["pid"].value_or(int64_t{0});
  s.frontend = str("frontend");
  s.fuse_dir = str("fuse_dir");
  s.image = str("image");
  s.block_device = str("block_device");
  s.control_socket = str("control_socket");
  s.log = str("log");
  s.index = str("index");
  s.source = str("source");
  return s;
}

// ---- mount: index ---------------------------------------------------------------------------

void print_build_progress(const index::BuildProgress& p) {
  if (!::isatty(STDERR_FILENO)) return;
  std::fprintf(stderr, "\r\033[Kindexing: %s, %llu objects, %llu requests", p.phase,
               static_cast<unsigned long long>(p.objects),
               static_cast<unsigned long long>(p.requests));
}

// Lists SRC and writes its index to `out`; progress on a terminal, a summary line always.
Status build_index(const ObjectUri& uri, const MountOptions& o, const std::string& out) {
  index::BuildOptions build;
  build.source = uri.to_string();
  build.prefix = index::directory_prefix(uri.prefix);
  build.progress = print_build_progress;
  int exit_code = 0;
  auto opened = open_from_args(o.source, o.store, exit_code);
  if (!opened) return Error(ErrorKind::kInvalidArgument, "cannot open " + o.source);
  index::ObjectCollector objects;
  index::BuildProgress progress;
  Status listed = index::list_parallel(opened->store.async(), opened->store.reactor(), build,
                                       objects, progress);
  Result<index::BuildReport> report =
      listed.ok() ? index::write_index(objects, build, out, progress) : Result<index::BuildReport>(listed.error());
  if (::isatty(STDERR_FILENO)) std::fprintf(stderr, "\r\033[K");
  if (!report.ok()) return std::move(report).error().with_context("indexing " + build.source);
  std::fprintf(stderr, "shoal: indexed %s: %llu files in %llu directories (%llu skipped) in %.1f s → %s\n",
               build.source.c_str(), static_cast<unsigned long long>(report->files),
               static_cast<unsigned long long>(report->directories),
               static_cast<unsigned long long>(report->skipped.size()),
               std::chrono::duration<double>(report->elapsed).count(), out.c_str());
  return {};
}

// SRC is an index file, or a URI to index now (into [index] path, else the index directory).
// Sets from_uri for the latter.
Result<std::string> index_for(const MountOptions& o, const VolumeConfig& config, bool& from_uri) {
  struct stat st{};
  from_uri = false;
  if (::stat(o.source.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return canonical_path(o.source);
  auto uri = parse_object_uri(o.source);
  if (!uri.ok())
    return Error(ErrorKind::kInvalidArgument,
                 "SRC '" + o.source + "' is neither an index file nor a URI (oss://bucket/prefix, "
                 "s3://bucket/prefix, file:///dir)");
  std::string dir = !o.index_dir.empty() ? o.index_dir : env_or("SHOAL_INDEX_DIR", "/var/lib/shoal");
  std::string out = !config.index_path.empty() ? config.index_path
                                               : dir + "/" + hex_hash(uri->to_string()) + ".shix";
  std::error_code ec;
  fs::create_directories(fs::path(out).parent_path(), ec);
  if (ec) return Error(ErrorKind::kIo, "creating the index directory for " + out + ": " + ec.message());
  SHOAL_TRY(build_index(*uri, o, out));
  from_uri = true;
  return out;
}

// ---- mount: daemon --------------------------------------------------------------------------

std::string shoald_path() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  fs::path beside = self.parent_path() / "shoald";
  if (!ec && fs::exists(beside)) return beside.string();
  return "shoald";  // from PATH
}

std::vector<std::string> shoald_args(const MountOptions& o, const MountState& s) {
  std::vector<std::string> a = {shoald_path(), "--index", s.index, "--frontend", s.frontend,
                                "--control", s.control_socket, "--pid-file",
                                (fs::path(s.control_socket).parent_path() / "shoald.pid").string(),
                                "--ready-fd", "3"};
  auto add = [&a](const char* flag, const std::string& value) {
    if (!value.empty()) a.insert(a.end(), {flag, value});
  };
  if (s.source_is_uri) add("--source", o.source);
  add("--config", o.config);
  if (s.frontend == "fuse") add("--mountpoint", s.fuse_dir);
  if (o.ublk_queues > 0) add("--ublk-queues", std::to_string(o.ublk_queues));
  if (o.ublk_depth > 0) add("--ublk-depth", std::to_string(o.ublk_depth));
  add("--cache-memory", o.cache_memory);
  add("--prefetch", o.prefetch);
  add("--metrics", o.metrics);
  add("--endpoint", o.store.endpoint);
  add("--region", o.store.region);
  if (o.store.path_style) a.push_back("--path-style");
  if (o.store.virtual_hosted) a.push_back("--virtual-hosted");
  if (o.store.oss_v1) a.push_back("--oss-v1");
  return a;
}

// In the child: its own session (a closing terminal does not stop it), stdin from /dev/null,
// stdout and stderr to the log, the readiness pipe as fd 3. Never returns.
[[noreturn]] void exec_daemon(const std::vector<std::string>& args, int log_fd, int ready_fd) {
  ::setsid();
  int null_fd = ::open("/dev/null", O_RDONLY);
  ::dup2(null_fd, STDIN_FILENO);
  ::dup2(log_fd, STDOUT_FILENO);
  ::dup2(log_fd, STDERR_FILENO);
  if (ready_fd == 3) ::fcntl(3, F_SETFD, 0);  // dup2 onto itself would keep FD_CLOEXEC
  else ::dup2(ready_fd, 3);
  for (int fd = 4; fd < 1024; ++fd) ::close(fd);
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  std::fprintf(stderr, "shoal: cannot run %s: %s\n", argv[0], std::strerror(errno));
  ::_exit(127);
}

// Reads the daemon's one readiness line ("ready" / "error …"), or "" if it exited silently.
std::string read_ready_line(int fd) {
  std::string line;
  auto deadline = Clock::now() + kReadyTimeout;
  char c;
  while (Clock::now() < deadline) {
    ssize_t n = ::read(fd, &c, 1);
    if (n == 1 && c == '\n') break;
    if (n == 1) line.push_back(c);
    else if (n == 0 || errno != EINTR) break;
  }
  return line;
}

std::string log_tail(const std::string& log) {
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string out;
  for (size_t i = lines.size() > 10 ? lines.size() - 10 : 0; i < lines.size(); ++i)
    out += "  " + lines[i] + "\n";
  return out;
}

Result<int64_t> start_daemon(const MountOptions& o, const MountState& s) {
  int log_fd = ::open(s.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return errno_error("creating the daemon log " + s.log, errno);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ::close(log_fd);
    return errno_error("pipe", errno);
  }
  std::vector<std::string> args = shoald_args(o, s);
  pid_t pid = ::fork();
  if (pid == 0) exec_daemon(args, log_fd, pipe_fds[1]);
  ::close(log_fd);
  ::close(pipe_fds[1]);
  if (pid < 0) {
    ::close(pipe_fds[0]);
    return errno_error("fork", errno);
  }
  std::string line = read_ready_line(pipe_fds[0]);
  ::close(pipe_fds[0]);
  if (line == "ready") return static_cast<int64_t>(pid);
  int status = 0;
  if (line.empty()) ::kill(pid, SIGKILL);  // silent past the deadline, or exited
  ::waitpid(pid, &status, 0);
  bool usage = WIFEXITED(status) && WEXITSTATUS(status) == 2;
  std::string why = line.starts_with("error ") ? line.substr(6)
                                                : "shoald exited without starting; its log:\n" +
                                                      log_tail(s.log);
  return Error(usage ? ErrorKind::kInvalidArgument : ErrorKind::kInternal,
               "shoald could not start: " + why);
}

// ---- mount: kernel --------------------------------------------------------------------------

class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { if (fd_ >= 0) ::close(fd_); }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Binds a free loop device to the image, read-only, with autoclear (the unmount detaches it)
// and direct I/O when the backing file takes it (the page cache then holds the bytes once, in
// EROFS, not again for the FUSE file). Returns the open device, kept until the mount holds it.
Result<std::pair<std::string, int>> attach_loop(const std::string& image) {
  UniqueFd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (control.get() < 0) return errno_error("/dev/loop-control (modprobe loop)", errno);
  UniqueFd backing(::open(image.c_str(), O_RDONLY | O_CLOEXEC));
  if (backing.get() < 0) return errno_error("opening the image " + image, errno);
  for (int attempt = 0; attempt < 16; ++attempt) {
    int number = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (number < 0) return errno_error("finding a free loop device", errno);
    std::string device = "/dev/loop" + std::to_string(number);
    int fd = ::open(device.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_error("opening " + device, errno);
    loop_config config{};
    config.fd = static_cast<uint32_t>(backing.get());
    config.block_size = 4096;
    config.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
    std::strncpy(reinterpret_cast<char*>(config.info.lo_file_name), image.c_str(), LO_NAME_SIZE - 1);
    int rc = ::ioctl(fd, LOOP_CONFIGURE, &config);
    if (rc != 0 && errno == EINVAL) {
      config.info.lo_flags &= ~LO_FLAGS_DIRECT_IO;
      rc = ::ioctl(fd, LOOP_CONFIGURE, &config);
    }
    if (rc == 0) return std::make_pair(device, fd);
    int err = errno;
    ::close(fd);
    if (err != EBUSY) return errno_error("binding " + device + " to " + image, err);
  }
  return Error(ErrorKind::kIo, "no free loop device stayed free long enough: retry");
}

Status mount_erofs(const std::string& device, const std::string& mountpoint) {
  if (::mount(device.c_str(), mountpoint.c_str(), "erofs", MS_RDONLY | MS_NODEV | MS_NOSUID,
              nullptr) != 0)
    return errno_error("mount -t erofs " + device + " " + mountpoint, errno);
  return {};
}

// The ublk frontend names its disk in its description ("ublk /dev/ublkb0 …").
Result<std::string> ublk_disk(const MountState& s) {
  SHOAL_ASSIGN(std::string status, control_request(s.control_socket, "status"));
  size_t at = status.find("/dev/ublkb");
  if (at == std::string::npos)
    return Error(ErrorKind::kInternal, "the ublk frontend did not name its disk:\n" + status);
  return status.substr(at, status.find_first_of(" \n,)", at) - at);
}

// No wait for the ublk disk: shoald says "ready" only once START_DEV has completed and
// /dev/ublkb<N> exists.
Status mount_volume(MountState& s) {
  if (s.frontend == "ublk") {
    SHOAL_ASSIGN(s.block_device, ublk_disk(s));
    return mount_erofs(s.block_device, s.mountpoint);
  }
  SHOAL_ASSIGN(auto loop, attach_loop(s.image));
  s.block_device = loop.first;
  Status mounted = mount_erofs(loop.first, s.mountpoint);
  ::close(loop.second);  // autoclear: with the mount failed, this last close detaches it
  return mounted;
}

// ---- umount ---------------------------------------------------------------------------------

Status unmount_erofs(const std::string& mountpoint, bool lazy) {
  if (!is_mount_point(mountpoint)) return {};
  if (::umount2(mountpoint.c_str(), 0) == 0) return {};
  if (errno == EBUSY && lazy && ::umount2(mountpoint.c_str(), MNT_DETACH) == 0) return {};
  if (errno == EBUSY)
    return Error(ErrorKind::kIo, mountpoint + " is busy: close the files open in it (fuser -vm " +
                                     mountpoint + ") or run `shoal umount --lazy`");
  return errno_error("unmounting " + mountpoint, errno);
}

// Detaches the loop device if it still serves our image (a lazy unmount leaves it until the
// last user goes; clearing it now marks it to go then).
void detach_loop(const MountState& s) {
  if (s.frontend != "fuse" || !s.block_device.starts_with("/dev/loop")) return;
  std::string name = s.block_device.substr(5);
  std::ifstream backing("/sys/block/" + name + "/loop/backing_file");
  std::string file;
  if (!std::getline(backing, file) || file != s.image) return;
  UniqueFd fd(::open(s.block_device.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() >= 0) ::ioctl(fd.get(), LOOP_CLR_FD, 0);
}

bool wait_gone(int64_t pid, Clock::duration timeout) {
  auto deadline = Clock::now() + timeout;
  while (daemon_alive(pid)) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

void stop_daemon(int64_t pid) {
  if (!daemon_alive(pid)) return;
  ::kill(static_cast<pid_t>(pid), SIGTERM);
  if (wait_gone(pid, kStopTimeout)) return;
  std::fprintf(stderr, "shoal: shoald (pid %lld) ignored SIGTERM: killing it\n",
               static_cast<long long>(pid));
  ::kill(static_cast<pid_t>(pid), SIGKILL);
  wait_gone(pid, kStopTimeout);
}

// A daemon that died leaves its FUSE mount behind (ENOTCONN); the lazy unmount removes it.
void remove_state(const std::string& dir, const MountState& s) {
  if (!s.fuse_dir.empty() && is_mount_point(s.fuse_dir)) ::umount2(s.fuse_dir.c_str(), MNT_DETACH);
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}

Status teardown(const std::string& dir, const MountState& s, bool lazy) {
  SHOAL_TRY(unmount_erofs(s.mountpoint, lazy));
  detach_loop(s);
  stop_daemon(s.pid);
  remove_state(dir, s);
  return {};
}

// ---- commands -------------------------------------------------------------------------------

Result<std::string> prepare_state_dir(const std::string& mountpoint) {
  std::string dir = state_dir_of(mountpoint);
  if (fs::exists(dir + "/state.toml")) {
    auto state = load_state(dir + "/state.toml");
    bool live = state.ok() && daemon_alive(state->pid);
    return Error(ErrorKind::kInvalidArgument,
                 mountpoint + (live ? " is already mounted by shoal" : " has a stale shoal mount") +
                     ": run `shoal umount " + mountpoint + "` first");
  }
  std::error_code ec;
  fs::remove_all(dir, ec);  // pieces of a mount that failed half-way
  fs::create_directories(dir + "/fuse", ec);
  if (ec) return Error(ErrorKind::kIo, "creating " + dir + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);
  return dir;
}

Status check_mountpoint(const std::string& given, const std::string& mountpoint) {
  struct stat st{};
  if (::stat(mountpoint.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Error(ErrorKind::kInvalidArgument,
                 "mount point " + given + " is not an existing directory: create it first");
  if (is_mount_point(mountpoint))
    return Error(ErrorKind::kInvalidArgument,
                 mountpoint + " is already a mount point: unmount it or pick another directory");
  return {};
}

Result<std::string> mountable_frontend(const MountOptions& o, const VolumeConfig& config) {
  std::string kind = resolve_frontend_kind(!o.frontend.empty() ? o.frontend : config.frontend);
  if (kind == "fuse" || kind == "ublk") return kind;
  return Error(ErrorKind::kInvalidArgument,
               "shoal mount attaches the fuse and ublk frontends, not '" + kind +
                   "': run shoald --frontend " + kind + " and attach a client yourself");
}

int fail(std::string_view what, const Error& error) {
  return error.kind == ErrorKind::kInvalidArgument ? report_usage(std::string(what) + ": " + error.describe())
                                                   : report_failure(what, error);
}

// Everything before the daemon: checks that need no cleanup when they fail.
Result<MountState> plan_mount(const MountOptions& o, VolumeConfig& config) {
  MountState s;
  s.mountpoint = canonical_path(o.mountpoint);
  SHOAL_TRY(check_mountpoint(o.mountpoint, s.mountpoint));
  if (!o.config.empty()) {
    SHOAL_ASSIGN(config, load_volume_config(o.config));
  }
  if (!o.cache_memory.empty()) SHOAL_TRY(parse_size(o.cache_memory, "--cache-memory"));
  SHOAL_ASSIGN(s.frontend, mountable_frontend(o, config));
  SHOAL_ASSIGN(s.index, index_for(o, config, s.source_is_uri));
  s.source = o.source;
  return s;
}

int run_mount(const MountOptions& o) {
  VolumeConfig config;
  Result<MountState> planned = plan_mount(o, config);
  if (!planned.ok()) return fail("mount " + o.source, planned.error());
  MountState s = std::move(*planned);
  auto dir = prepare_state_dir(s.mountpoint);
  if (!dir.ok()) return fail("mount", dir.error());
  s.fuse_dir = *dir + "/fuse";
  s.image = s.fuse_dir + "/image";
  s.control_socket = *dir + "/control.sock";
  s.log = *dir + "/shoald.log";
  Result<int64_t> pid = start_daemon(o, s);
  if (!pid.ok()) {
    remove_state(*dir, s);
    // The daemon's message already says what kind of failure it was.
    std::fprintf(stderr, "shoal: mount %s: %s\n", o.source.c_str(), pid.error().message.c_str());
    return pid.error().kind == ErrorKind::kInvalidArgument ? kExitUsage : kExitFailed;
  }
  s.pid = *pid;
  Status mounted = mount_volume(s);
  if (mounted.ok()) mounted = save_state(*dir + "/state.toml", s);
  if (!mounted.ok()) {
    std::string log = log_tail(s.log);
    Status ignored = teardown(*dir, s, true);
    (void)ignored;  // the mount is what failed; tearing down is best effort
    return report_failure("mount " + o.source, mounted.error().with_context("daemon log:\n" + log));
  }
  std::printf("mounted %s at %s (frontend %s, %s, shoald pid %lld)\n", o.source.c_str(),
              s.mountpoint.c_str(), s.frontend.c_str(), s.block_device.c_str(),
              static_cast<long long>(s.pid));
  return 0;
}

int run_umount(const MountOptions& o) {
  std::string mountpoint = canonical_path(o.mountpoint);
  std::string dir = state_dir_of(mountpoint);
  if (!fs::exists(dir + "/state.toml"))
    return report_failure("umount", Error(ErrorKind::kNotFound,
                                          mountpoint + " is not mounted by shoal (no state in " +
                                              run_dir() + ")"));
  auto state = load_state(dir + "/state.toml");
  if (!state.ok()) return report_failure("umount", state.error());
  Status done = teardown(dir, *state, o.lazy);
  if (!done.ok()) return report_failure("umount " + mountpoint, done.error());
  std::printf("unmounted %s\n", mountpoint.c_str());
  return 0;
}

// TARGET is a control socket, or a mount point whose state names one.
Result<std::string> control_socket_of(const std::string& target) {
  struct stat st{};
  if (::stat(target.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return target;
  std::string dir = state_dir_of(canonical_path(target));
  if (!fs::exists(dir + "/state.toml"))
    return Error(ErrorKind::kNotFound,
                 target + " is neither a shoal mount point nor a control socket");
  SHOAL_ASSIGN(MountState s, load_state(dir + "/state.toml"));
  return s.control_socket;
}

int run_stats(const MountOptions& o) {
  auto socket = control_socket_of(o.target);
  if (!socket.ok()) return report_failure("stats", socket.error());
  auto text = control_request(*socket, "stats");
  if (!text.ok()) return report_failure("stats " + o.target, text.error());
  std::fwrite(text->data(), 1, text->size(), stdout);
  return 0;
}

void add_mount_store_options(CLI::App& cmd, StoreOptions& s) {
  cmd.add_option("--endpoint", s.endpoint, "Object-store endpoint, e.g. http://127.0.0.1:9000");
  cmd.add_option("--region", s.region, "Object-store region");
  auto* path = cmd.add_flag("--path-style", s.path_style, "Address buckets as host/bucket/key");
  auto* hosted = cmd.add_flag("--virtual-hosted", s.virtual_hosted,
                              "Address buckets as bucket.host/key");
  path->excludes(hosted);
  cmd.add_flag("--oss-v1", s.oss_v1, "Sign OSS requests with the V1 signature instead of V4");
}

}  // namespace

void register_mount(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<MountOptions>();
  CLI::App* cmd = app.add_subcommand(
      "mount", "Mount a volume read-only: shoald serves it, the kernel mounts EROFS on it");
  cmd->add_option("SRC", o->source, "An index file, or a URI to index now (oss://, s3://, file://)")
      ->required();
  cmd->add_option("MOUNTPOINT", o->mountpoint, "An existing, empty directory")->required();
  cmd->add_option("--config", o->config, "Volume config (TOML): cache, fetch, prefetch, [store]…")
      ->check(CLI::ExistingFile);
  cmd->add_option("--frontend", o->frontend,
                  "fuse or ublk (default: the config's, else ublk when /dev/ublk-control "
                  "exists, else fuse)");
  cmd->add_option("--cache-memory", o->cache_memory, "Memory cache budget, e.g. 4GiB");
  cmd->add_option("--prefetch", o->prefetch, "cross-file, or none (direct mode)");
  cmd->add_option("--metrics", o->metrics, "Prometheus endpoint: 127.0.0.1:9109 or unix:PATH");
  cmd->add_option("--ublk-queues", o->ublk_queues, "ublk: hardware queues (default 1)")
      ->check(CLI::Range(1, int{UblkOptions::kMaxQueues}));
  cmd->add_option("--ublk-depth", o->ublk_depth, "ublk: requests in flight per queue (default 128)")
      ->check(CLI::Range(1, int{UblkOptions::kMaxQueueDepth}));
  cmd->add_option("--index-dir", o->index_dir,
                  "Where indexes built from a URI go (default $SHOAL_INDEX_DIR, else "
                  "/var/lib/shoal)");
  add_mount_store_options(*cmd, o->store);
  cmd->callback([o, &exit_code] {
    o->store.config = o->config;
    exit_code = run_mount(*o);
  });
}

void register_umount(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<MountOptions>();
  CLI::App* cmd = app.add_subcommand(
      "umount", "Unmount a shoal volume: EROFS, loop device, shoald and its state, all of it");
  cmd->add_option("MOUNTPOINT", o->mountpoint, "Where the volume is mounted")->required();
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

}  // namespace shoal::cli
