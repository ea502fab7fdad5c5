// What the writer's integration tests share: a temporary work area, a writer run as a child
// process (so it can be killed with SIGKILL like a real crash), a job that writes checkpoint
// generations, and checks of what reached the store.
#pragma once

#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#include "store/blocking_store.h"
#include "writer/config.h"
#include "writer/control.h"
#include "writer/writer.h"

namespace shoal::testing_writer {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "shoal-writer-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::string random_bytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    std::memcpy(s.data() + i, &v, std::min<size_t>(8, n - i));
  }
  return s;
}

// open / write / close, the way a job writes: the close is what the writer reacts to.
inline void write_file(const fs::path& p, const std::string& bytes) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("open " + p.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) throw std::runtime_error("write " + p.string());
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

inline void append_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::app);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline uint64_t xxh3(const std::string& s) { return XXH3_64bits(s.data(), s.size()); }

// Polls `done` until it holds or a generous deadline passes; never asserts on timing.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::seconds deadline = std::chrono::seconds(120)) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

// The writer in a forked child process, stopped with SIGTERM or killed with SIGKILL.
class WriterProcess {
 public:
  explicit WriterProcess(WriterConfig config) : config_(std::move(config)) {}
  ~WriterProcess() { kill_hard(); }

  void start() {
    ASSERT_LT(pid_, 0) << "already running";
    pid_ = ::fork();
    ASSERT_GE(pid_, 0) << "fork: " << std::strerror(errno);
    if (pid_ == 0) child_main(config_);
  }
  // Waits until the control socket answers.
  bool wait_ready() {
    return eventually([&] { return control_call(config_.control_socket, {"status"}).ok(); });
  }
  void kill_hard() { finish(SIGKILL); }
  int stop() { return finish(SIGTERM); }
  bool running() const { return pid_ > 0; }

  Result<ControlReply> call(const std::vector<std::string>& words) const {
    return control_call(config_.control_socket, words);
  }
  // A status field as a number, or -1 when the writer did not answer.
  int64_t status_number(const std::string& name) const {
    auto reply = call({"status"});
    if (!reply.ok() || !reply->ok) return -1;
    return std::stoll(reply->get(name));
  }
  const WriterConfig& config() const { return config_; }

 private:
  static inline Writer* child_writer = nullptr;

  [[noreturn]] static void child_main(const WriterConfig& config) {
    auto writer = Writer::open(config, [](std::string_view) { return std::optional<std::string>(); });
    if (!writer.ok()) {
      std::fprintf(stderr, "writer child: %s\n", writer.error().describe().c_str());
      ::_exit(3);
    }
    child_writer = writer->get();
    ::signal(SIGTERM, [](int) { child_writer->request_stop(); });
    Status ran = (*writer)->run();
    writer->reset();
#ifdef __SANITIZE_ADDRESS__
    // _exit skips LeakSanitizer's exit-time check: run it here, so a clean stop proves the
    // writer freed everything.
    if (__lsan_do_recoverable_leak_check() != 0) ::_exit(5);
#endif
    ::_exit(ran.ok() ? 0 : 4);
  }

  int finish(int signal) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  WriterConfig config_;
  pid_t pid_ = -1;
};

// A checkpointing job: generation g writes model.ckpt-g.index (small) and model.ckpt-g.data
// (sizes from `data_sizes`), then deletes generation g-1 (max_to_keep = 1). Remembers every
// file's content hash by relative path.
class CheckpointJob {
 public:
  CheckpointJob(fs::path dir, std::vector<size_t> data_sizes, uint64_t seed = 42)
      : dir_(std::move(dir)), sizes_(std::move(data_sizes)), rng_(seed) {}

  void write_generation(int g, bool delete_previous = true) {
    fs::create_directories(dir_);
    std::string base = "model.ckpt-" + std::to_string(g);
    write_one(base + ".data", random_bytes(rng_, sizes_[static_cast<size_t>(g) % sizes_.size()]));
    write_one(base + ".index", random_bytes(rng_, 1024 + static_cast<size_t>(g)));
    if (delete_previous && g > 0) {
      std::string prev = "model.ckpt-" + std::to_string(g - 1);
      fs::remove(dir_ / (prev + ".data"));
      fs::remove(dir_ / (prev + ".index"));
    }
  }
  const std::map<std::string, uint64_t>& expected() const { return expected_; }

 private:
  void write_one(const std::string& name, const std::string& bytes) {
    write_file(dir_ / name, bytes);
    expected_[name] = xxh3(bytes);
  }

  fs::path dir_;
  std::vector<size_t> sizes_;
  std::mt19937_64 rng_;
  std::map<std::string, uint64_t> expected_;
};

// Every object under `prefix` (relative key → content hash). An object deleted between the
// listing and its GET (retention at work) is left out.
inline std::map<std::string, uint64_t> remote_contents(BlockingStore& store,
                                                       const std::string& prefix) {
  std::map<std::string, uint64_t> out;
  ListQuery q;
  q.prefix = prefix;
  Status listed = store.list_all(q, [&](const ListPage& page) -> Status {
    for (const auto& o : page.objects) {
      GetQuery get;
      get.key = o.key;
      auto reply = store.get(get);
      if (!reply.ok() && reply.error().kind == ErrorKind::kNotFound) continue;
      if (!reply.ok()) return std::move(reply).error();
      out[o.key.substr(prefix.size())] = xxh3(reply->data);
    }
    return {};
  });
  EXPECT_TRUE(listed.ok()) << listed.error().describe();
  return out;
}

}  // namespace shoal::testing_writer
