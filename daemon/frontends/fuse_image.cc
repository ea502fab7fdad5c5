#define FUSE_USE_VERSION 312
#include "daemon/frontends/fuse_image.h"

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <vector>

namespace shoal {
namespace {

constexpr fuse_ino_t kImageIno = 2;
// Nothing in the mount ever changes while it is mounted.
constexpr double kAttrTimeout = 3600.0;
// Requests handled per wakeup, so a busy mount cannot starve the rest of the reactor.
constexpr int kRequestsPerWakeup = 64;
// Asynchronous reads the kernel may have in flight to us (see op_init); the fetch default is 128.
constexpr unsigned kMaxBackgroundReads = 256;
// Pieces of memory one read reply may be sent from (writev's IOV_MAX, less the reply header).
constexpr size_t kMaxReplyPieces = IOV_MAX - 1;

// libfuse reports mount problems through its log; while start() runs the messages are kept to
// go into the error returned (the log hook is process-wide, hence the lock).
std::mutex log_mutex;
std::string captured_log;

void capture_log(enum fuse_log_level, const char* fmt, va_list ap) {
  char line[512];
  std::vsnprintf(line, sizeof(line), fmt, ap);
  std::lock_guard<std::mutex> lock(log_mutex);
  captured_log += line;
}

class LogCapture {
 public:
  LogCapture() {
    std::lock_guard<std::mutex> lock(log_mutex);
    captured_log.clear();
    fuse_set_log_func(capture_log);
  }
  ~LogCapture() { fuse_set_log_func(nullptr); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::string text() const {
    std::lock_guard<std::mutex> lock(log_mutex);
    std::string out = captured_log;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out.empty() ? std::string() : " (libfuse: " + out + ")";
  }
};

Status check_dev_fuse() {
  if (::access("/dev/fuse", R_OK | W_OK) == 0) return {};
  int err = errno;
  if (err == ENOENT) {
    return Error(ErrorKind::kNotFound,
                 "/dev/fuse is missing: load the fuse module (modprobe fuse), or give the "
                 "container the device (--device /dev/fuse), or pick another frontend");
  }
  return errno_error("/dev/fuse cannot be opened for reading and writing", err);
}

Status check_mount_point(const std::string& path) {
  if (path.empty())
    return Error(ErrorKind::kInvalidArgument, "the FUSE frontend needs a mount point");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno_error("FUSE mount point " + path, errno);
  if (!S_ISDIR(st.st_mode))
    return Error(ErrorKind::kInvalidArgument, "FUSE mount point " + path + " is not a directory");
  return {};
}

}  // namespace

struct FuseImage::Session : std::enable_shared_from_this<Session> {
  Session(const FuseImageOptions& opts, Reactor& loop, BlockDevice& dev)
      : options(opts), reactor(loop), device(dev) {}
  ~Session() {
    std::free(buf.mem);
    if (se != nullptr) fuse_session_destroy(se);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  Status mount();
  void on_readable();
  void stop_watching();
  void unmount();

  struct stat attributes(fuse_ino_t ino) const;
  static Session& of(fuse_req_t req) { return *static_cast<Session*>(fuse_req_userdata(req)); }

  // The low-level operations; anything not here gets libfuse's default answer.
  static const fuse_lowlevel_ops& operations();
  static void op_init(void* userdata, fuse_conn_info* conn);
  static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  static void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
                         fuse_file_info* fi);
  static void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
                      fuse_file_info* fi);

  FuseImageOptions options;
  Reactor& reactor;
  BlockDevice& device;
  fuse_session* se = nullptr;
  int fd = -1;
  bool watching = false;
  bool mounted = false;
  fuse_buf buf{};
  timespec mount_time{};
};

namespace {

void reply_attr_entry(fuse_req_t req, const struct stat& st) {
  fuse_entry_param entry{};
  entry.ino = st.st_ino;
  entry.attr = st;
  entry.attr_timeout = kAttrTimeout;
  entry.entry_timeout = kAttrTimeout;
  fuse_reply_entry(req, &entry);
}

}  // namespace

void FuseImage::Session::op_init(void*, fuse_conn_info* conn) {
  // Splice would need a pipe per thread; plain reads into one buffer are all this loop needs.
  conn->want &= ~FUSE_CAP_SPLICE_READ;
  // The loop device reads the image with direct, asynchronous I/O: each of its reads is a FUSE
  // background request, and the kernel lets only max_background of those (default 12) be in
  // flight, so 16 readers missing the cache would wait on 12 GETs. The engine bounds its GETs
  // itself (fetch.max_inflight); let the kernel pass as many reads as it takes.
  conn->max_background = kMaxBackgroundReads;
  conn->congestion_threshold = kMaxBackgroundReads * 3 / 4;
}

void FuseImage::Session::op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Session& s = of(req);
  if (parent != FUSE_ROOT_ID || s.options.image_name != name) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  reply_attr_entry(req, s.attributes(kImageIno));
}

void FuseImage::Session::op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  if (ino != FUSE_ROOT_ID && ino != kImageIno) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct stat st = of(req).attributes(ino);
  fuse_reply_attr(req, &st, kAttrTimeout);
}

void FuseImage::Session::op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
                                    fuse_file_info*) {
  if (ino != FUSE_ROOT_ID) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  Session& s = of(req);
  struct Entry {
    const char* name;
    fuse_ino_t ino;
  };
  const Entry entries[] = {
      {".", FUSE_ROOT_ID}, {"..", FUSE_ROOT_ID}, {s.options.image_name.c_str(), kImageIno}};
  std::vector<char> out(size);
  size_t used = 0;
  // An entry's offset is the index of the next one, which is where a later call resumes.
  for (off_t i = std::max<off_t>(offset, 0); i < static_cast<off_t>(std::size(entries)); ++i) {
    struct stat st = s.attributes(entries[i].ino);
    size_t need =
        fuse_add_direntry(req, out.data() + used, size - used, entries[i].name, &st, i + 1);
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, out.data(), used);
}

void FuseImage::Session::op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (ino != kImageIno) {
    fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ENOENT);
    return;
  }
  if ((fi->flags & O_ACCMODE) != O_RDONLY) {
    fuse_reply_err(req, EROFS);
    return;
  }
  fi->keep_cache = 1;
  fi->direct_io = 0;
  fuse_reply_open(req, fi);
}

void FuseImage::Session::op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
                                 fuse_file_info*) {
  Session& s = of(req);
  uint64_t device_size = s.device.size_bytes();
  if (ino != kImageIno || offset < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  uint64_t start = static_cast<uint64_t>(offset);
  size_t length =
      start >= device_size ? 0 : static_cast<size_t>(std::min<uint64_t>(size, device_size - start));
  if (length == 0) {
    fuse_reply_buf(req, nullptr, 0);  // at or past the end: EOF
    return;
  }
  // The session must outlive the reply, even when the frontend stops meanwhile.
  std::shared_ptr<Session> keep = s.shared_from_this();
  s.device.lend(start, length, [req, keep](Result<LentBytes> lent) {
    if (!lent.ok()) {
      fuse_reply_err(req, EIO);  // the kernel only understands errno
      return;
    }
    // One writev from the device's pages to /dev/fuse, which takes at most IOV_MAX pieces with
    // the reply's header; a read scattered wider than that (never seen: a 128 KiB read of
    // recycled pages is at most 33 pieces) is gathered into one buffer first.
    const std::vector<iovec>& iov = lent->iov;
    if (iov.size() < kMaxReplyPieces) {
      fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size()));
      return;
    }
    std::vector<char> flat;
    flat.reserve(lent->size());
    for (const iovec& v : iov) {
      const char* p = static_cast<const char*>(v.iov_base);
      flat.insert(flat.end(), p, p + v.iov_len);
    }
    fuse_reply_buf(req, flat.data(), flat.size());
  });
}

const fuse_lowlevel_ops& FuseImage::Session::operations() {
  static const fuse_lowlevel_ops ops = [] {
    fuse_lowlevel_ops table{};
    table.init = op_init;
    table.lookup = op_lookup;
    table.getattr = op_getattr;
    table.readdir = op_readdir;
    table.open = op_open;
    table.read = op_read;
    return table;
  }();
  return ops;
}

struct stat FuseImage::Session::attributes(fuse_ino_t ino) const {
  struct stat st {};
  st.st_ino = ino;
  st.st_uid = ::getuid();
  st.st_gid = ::getgid();
  st.st_atim = st.st_mtim = st.st_ctim = mount_time;
  if (ino == FUSE_ROOT_ID) {
    st.st_mode = S_IFDIR | 0555;
    st.st_nlink = 2;
    return st;
  }
  st.st_mode = S_IFREG | 0444;
  st.st_nlink = 1;
  st.st_size = static_cast<off_t>(device.size_bytes());
  st.st_blksize = static_cast<blksize_t>(device.block_size());
  st.st_blocks = static_cast<blkcnt_t>((device.size_bytes() + 511) / 512);
  return st;
}

Status FuseImage::Session::mount() {
  std::string mount_options = "ro,default_permissions,fsname=shoal,subtype=shoal";
  if (options.allow_other) mount_options += ",allow_other";
  std::vector<std::string> argv_strings = {"shoald", "-o", mount_options};
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

  LogCapture log;
  se = fuse_session_new(&args, &operations(), sizeof(fuse_lowlevel_ops), this);
  fuse_opt_free_args(&args);
  if (se == nullptr)
    return Error(ErrorKind::kInternal, "creating the FUSE session failed" + log.text());
  ::clock_gettime(CLOCK_REALTIME, &mount_time);
  if (fuse_session_mount(se, options.mount_point.c_str()) != 0) {
    return Error(ErrorKind::kIo,
                 "mounting the FUSE image at " + options.mount_point + " failed" + log.text());
  }
  mounted = true;
  fd = fuse_session_fd(se);
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    return errno_error("making /dev/fuse nonblocking", errno);
  }
  std::weak_ptr<Session> weak = weak_from_this();
  reactor.watch(fd, Reactor::kReadable, [weak](uint32_t) {
    if (auto self = weak.lock()) self->on_readable();
  });
  watching = true;
  return {};
}

void FuseImage::Session::on_readable() {
  auto self = shared_from_this();
  for (int i = 0; i < kRequestsPerWakeup && watching; ++i) {
    int n = fuse_session_receive_buf(se, &buf);
    if (n == -EINTR) continue;
    if (n == -EAGAIN) return;
    if (n <= 0 || fuse_session_exited(se)) {
      // Unmounted from outside (or the connection was aborted): nothing more will come.
      stop_watching();
      return;
    }
    fuse_session_process_buf(se, &buf);
  }
}

void FuseImage::Session::stop_watching() {
  if (watching) reactor.unwatch(fd);
  watching = false;
}

void FuseImage::Session::unmount() {
  stop_watching();
  // Also closes the descriptor; replies to reads still in flight then fail harmlessly.
  if (mounted) fuse_session_unmount(se);
  mounted = false;
}

FuseImage::FuseImage(const FrontendOptions& options, Reactor& reactor, BlockDevice& device)
    : options_(options.fuse), reactor_(reactor), device_(device) {}

FuseImage::~FuseImage() { stop(); }

Status FuseImage::start() {
  if (session_ != nullptr)
    return Error(ErrorKind::kInvalidArgument, describe() + " already started");
  if (options_.image_name.empty() || options_.image_name.find('/') != std::string::npos ||
      options_.image_name == "." || options_.image_name == "..") {
    return Error(ErrorKind::kInvalidArgument,
                 "FUSE image name '" + options_.image_name + "' is not a plain file name");
  }
  SHOAL_TRY(check_dev_fuse());
  SHOAL_TRY(check_mount_point(options_.mount_point));
  auto session = std::make_shared<Session>(options_, reactor_, device_);
  Status mounted = session->mount();
  if (!mounted.ok()) {
    session->unmount();
    return mounted;
  }
  session_ = std::move(session);
  return {};
}

void FuseImage::stop() {
  if (session_ == nullptr) return;
  session_->unmount();
  session_.reset();
}

std::string FuseImage::image_path() const {
  return options_.mount_point + "/" + options_.image_name;
}

bool FuseImage::serving() const { return session_ != nullptr && session_->watching; }

std::string FuseImage::describe() const {
  return "fuse image " + image_path() + " (" + std::to_string(device_.size_bytes()) +
         " bytes, read-only)";
}

}  // namespace shoal
