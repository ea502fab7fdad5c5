#include "support/rgw.h"
#include "support/loopback.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/command.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The packages scripts/setup installs for these, by the binaries the fixture runs.
constexpr const char* kTools[] = {"ceph-mon", "ceph-osd", "radosgw", "radosgw-admin",
                                  "monmaptool", "ceph", "curl"};
constexpr auto kStartLimit = 60s;

using test::accepts_connections;
using test::free_loopback_port;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream all;
  all << in.rdbuf();
  return all.str();
}

std::string tail(const std::string& text, size_t n = 3000) {
  return text.size() > n ? text.substr(text.size() - n) : text;
}

Result<std::string> new_uuid() {
  std::string id = read_file("/proc/sys/kernel/random/uuid");
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  if (id.size() != 36)
    return Error(ErrorKind::kInternal, "no uuid from /proc/sys/kernel/random/uuid");
  return id;
}

bool exited(pid_t pid) { return ::waitpid(pid, nullptr, WNOHANG) == pid; }

}  // namespace

Result<std::unique_ptr<Rgw>> Rgw::start(std::vector<std::string> buckets) {
  std::string missing;
  for (const char* tool : kTools)
    if (!test::have_tool(tool)) missing += std::string(missing.empty() ? "" : ", ") + tool;
  if (!missing.empty())
    return Error(ErrorKind::kNotFound,
                 "the RGW tests need Ceph's monitor, OSD and radosgw, and curl; not found on "
                 "PATH: " + missing + ". Run scripts/setup (it installs ceph-mon ceph-osd "
                 "radosgw ceph-common)");
  std::unique_ptr<Rgw> rgw(new Rgw());
  std::string pattern = (fs::temp_directory_path() / "shoal-rgw-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) return errno_error("creating " + pattern, errno);
  rgw->dir_ = pattern;
  rgw->conf_ = rgw->dir_ + "/ceph.conf";
  SHOAL_TRY(rgw->bring_up());
  for (const std::string& bucket : buckets) SHOAL_TRY(rgw->create_bucket(bucket));
  return rgw;
}

Rgw::~Rgw() {
  kill_all();
  std::error_code ignored;
  if (!dir_.empty()) fs::remove_all(dir_, ignored);
}

void Rgw::kill_all() {
  for (pid_t pid : pids_) ::kill(pid, SIGKILL);
  for (pid_t pid : pids_) ::waitpid(pid, nullptr, 0);
  pids_.clear();
}

std::string Rgw::endpoint() const { return "http://127.0.0.1:" + std::to_string(rgw_port_); }

StoreConfig Rgw::config() const {
  StoreConfig config;
  config.endpoint = endpoint();
  config.region = kRegion;
  config.credentials.access_key_id = kAccessKey;
  config.credentials.secret_access_key = kSecretKey;
  config.retry.max_attempts = 3;
  config.retry.base = 10ms;
  config.retry.cap = 100ms;
  config.connect_timeout = 2000ms;
  config.request_timeout = 20000ms;
  return config;
}

std::string Rgw::log_tail() const { return tail(read_file(dir_ + "/log/client.rgw.log")); }

Error Rgw::failure(ErrorKind kind, const std::string& message) const {
  std::string logs;
  for (const char* name : {"mon.a.log", "mon.out", "osd.0.log", "osd.out", "client.rgw.log",
                           "rgw.out"})
    logs += std::string("\n--- ") + name + ":\n" + tail(read_file(dir_ + "/log/" + name), 1500);
  return Error(kind, "the RGW test cluster in " + dir_ + ": " + message + logs);
}

Status Rgw::run(const std::string& what, const std::string& command) {
  test::CommandResult r = test::run_command(command);
  if (r.exit_code != 0)
    return failure(ErrorKind::kInternal, what + " failed (exit " + std::to_string(r.exit_code) +
                                             "): " + tail(r.output, 1500));
  return {};
}

Result<pid_t> Rgw::spawn(const std::string& name, std::vector<std::string> args) {
  std::string out = dir_ + "/log/" + name + ".out";
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return errno_error("fork for " + name, errno);
  if (pid == 0) {
    // Its own session, so a terminal's signals reach the test and not the daemons; and it
    // must not outlive a crashed test.
    ::setsid();
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  pids_.insert(pids_.begin(), pid);  // killed in reverse order of start
  return pid;
}

Status Rgw::wait_for_log(pid_t pid, const std::string& name, const std::string& file,
                         const std::string& needle) {
  auto deadline = std::chrono::steady_clock::now() + kStartLimit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (read_file(file).find(needle) != std::string::npos) return {};
    if (exited(pid)) {
      std::erase(pids_, pid);
      return failure(ErrorKind::kInternal, name + " exited at startup");
    }
    std::this_thread::sleep_for(20ms);
  }
  return failure(ErrorKind::kTimeout, name + " did not log \"" + needle + "\" within 60 s");
}

Status Rgw::wait_for_port(pid_t pid) {
  auto deadline = std::chrono::steady_clock::now() + kStartLimit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (accepts_connections(rgw_port_)) return {};
    if (exited(pid)) {
      std::erase(pids_, pid);
      return failure(ErrorKind::kInternal, "radosgw exited at startup");
    }
    std::this_thread::sleep_for(20ms);
  }
  return failure(ErrorKind::kTimeout, "radosgw did not listen on port " +
                                          std::to_string(rgw_port_) + " within 60 s");
}

Status Rgw::bring_up() {
  SHOAL_ASSIGN(mon_port_, free_loopback_port());
  SHOAL_ASSIGN(rgw_port_, free_loopback_port());
  SHOAL_ASSIGN(std::string fsid, new_uuid());
  SHOAL_ASSIGN(std::string osd_uuid, new_uuid());
  for (const char* sub : {"/mon", "/osd", "/run", "/log"}) {
    std::error_code ec;
    fs::create_directories(dir_ + sub, ec);
    if (ec) return Error(ErrorKind::kIo, "creating " + dir_ + sub + ": " + ec.message());
  }
  std::string mon_addr = "v1:127.0.0.1:" + std::to_string(mon_port_);
  {
    std::ofstream conf(conf_);
    conf << "[global]\n"
         << "fsid = " << fsid << "\n"
         << "mon host = " << mon_addr << "\n"
         // IPv4 loopback only: without it an OSD on a machine with no IPv6 retries an IPv6
         // socket forever. msgr v1 only, so the monitor's one address is the one in mon host.
         << "ms bind msgr2 = false\nms bind ipv4 = true\nms bind ipv6 = false\n"
         << "public addr = 127.0.0.1\ncluster addr = 127.0.0.1\n"
         // No cephx anywhere; radosgw's own client still asks for it unless told not to.
         << "auth cluster required = none\nauth service required = none\n"
         << "auth client required = none\nms mon client mode = crc\nkeyring = /dev/null\n"
         // One OSD holds every pool: one replica, and 8 placement groups per pool (the
         // default 32 across RGW's pools exceeds the per-OSD limit and pools never go active).
         << "mon allow pool size one = true\nmon warn on pool no redundancy = false\n"
         << "osd pool default size = 1\nosd pool default min size = 1\n"
         << "osd pool default pg num = 8\nosd pool default pgp num = 8\n"
         << "osd pool default pg autoscale mode = off\n"
         // The monitor proposes every 10 ms instead of every second: startup drops from ~12 s
         // to ~1.5 s.
         << "paxos propose interval = 0.01\n"
         // A full /tmp must not stop the monitor; the data is thrown away anyway.
         << "mon data avail crit = 0\nmon data avail warn = 0\n"
         << "run dir = " << dir_ << "/run\n"
         << "admin socket = " << dir_ << "/run/$name.asok\n"
         << "log file = " << dir_ << "/log/$name.log\n"
         << "mon data = " << dir_ << "/mon\n"
         << "osd data = " << dir_ << "/osd\n"
         << "osd objectstore = memstore\nmemstore device bytes = 1073741824\n"
         // Its own first commands (device class, CRUSH position) are what a busy machine's
         // monitor-map race refuses ("wrong fsid", and the OSD exits); bring_up() places it.
         << "osd crush update on start = false\nosd class update on start = false\n"
         << "[client.rgw]\n"
         << "rgw frontends = beast endpoint=127.0.0.1:" << rgw_port_ << "\n";
    if (!conf) return Error(ErrorKind::kIo, "writing " + conf_);
  }
  std::string c = " -c " + conf_;
  SHOAL_TRY(run("monmaptool", "monmaptool --create --fsid " + fsid + " --addv a '[" +
                                  mon_addr + "]' " + dir_ + "/monmap"));
  SHOAL_TRY(run("ceph-mon --mkfs", "ceph-mon" + c + " -i a --mkfs --monmap " + dir_ + "/monmap"));
  SHOAL_ASSIGN(pid_t mon, spawn("mon", {"ceph-mon", "-c", conf_, "-i", "a", "-f"}));
  // On a busy machine a client's first command can reach the monitor before the client has
  // the monitor map, and is refused (the monitor logs a client fsid of zeros; the CLI says
  // "problem getting command descriptions"): wait until the monitor leads its one-monitor
  // quorum, and give each command a few tries.
  SHOAL_TRY(wait_for_log(mon, "ceph-mon", dir_ + "/log/mon.a.log", "mon.a@0(leader)"));
  auto ceph = [&](const std::string& what, const std::string& args) {
    Status done;
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(200ms);
      done = run(what, "ceph" + c + " --connect-timeout 30 " + args);
      if (done.ok()) break;
    }
    return done;
  };
  SHOAL_TRY(ceph("ceph osd new", "osd new " + osd_uuid));
  // The OSD does not place itself in the CRUSH map at start (the same race makes it exit
  // there, see the configuration): the CLI does, with retries.
  SHOAL_TRY(ceph("ceph osd crush add", "osd crush add osd.0 1.0 root=default host=shoal-test"));
  SHOAL_TRY(run("ceph-osd --mkfs", "ceph-osd" + c + " -i 0 --mkfs --osd-uuid " + osd_uuid));
  // A daemon that exits at startup anyway gets two more tries.
  Status up;
  for (int attempt = 0; attempt < 3; ++attempt) {
    SHOAL_ASSIGN(pid_t osd, spawn("osd", {"ceph-osd", "-c", conf_, "-i", "0", "-f"}));
    // radosgw creates its pools at startup and gives up when no OSD can hold them.
    up = wait_for_log(osd, "ceph-osd", dir_ + "/log/osd.0.log", "booting -> active");
    if (up.ok() || up.error().kind != ErrorKind::kInternal) break;
  }
  SHOAL_TRY(up);
  for (int attempt = 0; attempt < 3; ++attempt) {
    SHOAL_ASSIGN(pid_t rgw, spawn("rgw", {"radosgw", "-c", conf_, "-n", "client.rgw", "-f"}));
    up = wait_for_port(rgw);
    if (up.ok() || up.error().kind != ErrorKind::kInternal) break;
  }
  SHOAL_TRY(up);
  return run("radosgw-admin user create",
             "radosgw-admin" + c + " user create --uid=shoal-test --display-name=shoal-test" +
                 " --access-key=" + kAccessKey + " --secret=" + kSecretKey + " >/dev/null");
}

Result<std::vector<Rgw::Upload>> Rgw::multipart_uploads(const std::string& bucket) const {
  test::CommandResult r = test::run_command(
      std::string("curl -sS --fail --aws-sigv4 aws:amz:") + kRegion + ":s3 --user " + kAccessKey +
      ":" + kSecretKey +
      " -H 'x-amz-content-sha256: "
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' '" +
      endpoint() + "/" + bucket + "?uploads='");
  if (r.exit_code != 0)
    return failure(ErrorKind::kInternal, "listing multipart uploads of " + bucket + ": " + r.output);
  // Test keys need no XML unescaping; each <Upload> holds one <Key> and one <UploadId>.
  auto field = [](std::string_view xml, std::string_view tag, size_t& at) -> std::string {
    std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
    size_t b = xml.find(open, at);
    if (b == std::string_view::npos) return {};
    b += open.size();
    size_t e = xml.find(close, b);
    at = e;
    return std::string(xml.substr(b, e - b));
  };
  std::vector<Upload> uploads;
  std::string_view xml = r.output;
  for (size_t at = xml.find("<Upload>"); at != std::string_view::npos;
       at = xml.find("<Upload>", at)) {
    Upload u;
    u.key = field(xml, "Key", at);
    u.upload_id = field(xml, "UploadId", at);
    uploads.push_back(std::move(u));
  }
  return uploads;
}

Status Rgw::create_bucket(const std::string& bucket) {
  // curl's SigV4 leaves out x-amz-content-sha256, which RGW requires: the empty body's hash.
  test::CommandResult r = test::run_command(
      std::string("curl -sS -o /dev/null -w '%{http_code}' -X PUT --aws-sigv4 aws:amz:") +
      kRegion + ":s3 --user " + kAccessKey + ":" + kSecretKey +
      " -H 'x-amz-content-sha256: "
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' " +
      endpoint() + "/" + bucket);
  if (r.exit_code != 0 || r.output != "200")
    return failure(ErrorKind::kInternal, "creating bucket " + bucket + " answered " + r.output);
  return {};
}

}  // namespace shoal
