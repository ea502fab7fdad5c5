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

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#include "common/control.h"
#include "store/blocking_store.h"
#include "support/temp_dir.h"
#include "writer/config.h"
#include "writer/writer.h"

namespace shoal::testing_writer {

namespace fs = std::filesystem;

// The tests' work area: a test::TempDir with its path as an fs::path, since the tests join
// names onto it with `/`. One that cannot be made throws, which fails the test before anything
// is written under the empty path.
class TempDir {
 public:
  TempDir() {
    if (dir_.path().empty())
      throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  }
  fs::path path() const { return dir_.path(); }

 private:
  test::TempDir dir_{"shoal-writer"};
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
  // Waits until the control socket answers; false at once when the child exited instead (a
  // journal it refused to replay, say).
  bool wait_ready() {
    return eventually([&] {
      int status = 0;
      if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        ADD_FAILURE() << "the writer exited during start-up with status " << status;
        return true;
      }
      return control_call(config_.control_socket, {"status"}).ok();
    }) && pid_ > 0;
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

// A training job in its own process (the test forks writers, which is only safe while it has
// no other threads): generation g writes model.ckpt-g.data and model.ckpt-g.index into `dir`,
// hands both to the writer with `put` — retried while the writer is down, as a job's
// `shoal writer put` would be — deletes generation g-1 as soon as both are acknowledged, then
// "trains" for 50–250 ms. The first data size is written once, by generation 0; the others
// cycle. Before writing a file the job appends "name size hash" to its manifest, so at any
// moment every object in the store must match a manifest line. stop() lets the current generation
// finish.
class PutJobProcess {
 public:
  PutJobProcess(fs::path dir, std::vector<size_t> data_sizes, std::string socket, uint64_t seed)
      : dir_(std::move(dir)), sizes_(std::move(data_sizes)), socket_(std::move(socket)),
        seed_(seed) {}
  ~PutJobProcess() {
    if (pid_ > 0) finish(SIGKILL);
  }

  void start() {
    fs::create_directories(dir_);
    pid_ = ::fork();
    ASSERT_GE(pid_, 0) << "fork: " << std::strerror(errno);
    if (pid_ == 0) child_main();
  }
  // The job's exit status: 0 when every put was accepted.
  int stop() { return finish(SIGTERM); }

  struct Written {
    uint64_t size = 0;
    uint64_t hash = 0;
  };
  // Relative key → size and content hash of every file the job wrote or is writing.
  std::map<std::string, Written> written() const {
    std::istringstream lines(read_file(manifest_path()));
    std::map<std::string, Written> out;
    std::string name;
    Written w;
    while (lines >> name >> w.size >> w.hash) out[name] = w;
    return out;
  }
  // Relative key → content hash, as remote_contents() reports the store.
  std::map<std::string, uint64_t> manifest() const {
    std::map<std::string, uint64_t> out;
    for (const auto& [name, w] : written()) out[name] = w.hash;
    return out;
  }

 private:
  static inline volatile sig_atomic_t stop_requested = 0;

  fs::path manifest_path() const { return dir_.string() + ".manifest"; }

  size_t data_size(int g) const {
    if (g == 0 || sizes_.size() == 1) return sizes_[0];
    return sizes_[1 + static_cast<size_t>(g - 1) % (sizes_.size() - 1)];
  }

  [[noreturn]] void child_main() {
    ::signal(SIGTERM, [](int) { stop_requested = 1; });
    std::mt19937_64 rng(seed_);
    for (int g = 0; !stop_requested; ++g) {
      std::string base = "model.ckpt-" + std::to_string(g);
      if (!hand_over(base + ".data", random_bytes(rng, data_size(g))) ||
          !hand_over(base + ".index", random_bytes(rng, 1024 + static_cast<size_t>(g))))
        ::_exit(2);
      if (g > 0) {
        std::string prev = "model.ckpt-" + std::to_string(g - 1);
        fs::remove(dir_ / (prev + ".data"));
        fs::remove(dir_ / (prev + ".index"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 200));
    }
    ::_exit(0);
  }

  // False when the writer refused the file (a refusal is not a crash: the test fails).
  bool hand_over(const std::string& name, const std::string& bytes) {
    std::string line =
        name + " " + std::to_string(bytes.size()) + " " + std::to_string(xxh3(bytes)) + "\n";
    int fd = ::open(manifest_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    bool noted = fd >= 0 && ::write(fd, line.data(), line.size()) ==
                                static_cast<ssize_t>(line.size());
    if (fd >= 0) ::close(fd);
    if (!noted) return false;
    write_file(dir_ / name, bytes);
    for (;;) {
      auto reply = control_call(socket_, {"put", (dir_ / name).string()});
      if (reply.ok() && reply->ok) return true;
      if (reply.ok()) {
        std::fprintf(stderr, "job: put %s refused: %s\n", name.c_str(), reply->error.c_str());
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the writer is down
    }
  }

  int finish(int signal) {
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  fs::path dir_;
  std::vector<size_t> sizes_;
  std::string socket_;
  uint64_t seed_;
  pid_t pid_ = -1;
};

// The seed of a randomized test: SHOAL_TEST_SEED when set (to replay a failure), else a fresh
// one. Tests print it with SCOPED_TRACE, so every failure names it.
inline uint64_t test_seed() {
  if (const char* fixed = std::getenv("SHOAL_TEST_SEED")) return std::stoull(fixed);
  return std::random_device{}();
}

// Every object under `prefix` is, whole, a file the job wrote under that name. `checked`
// remembers the versions (ETags) already read, so each is read once. `keeps_cut_puts`: the store
// keeps what arrived of a PUT whose client died mid-body (s3rver does; S3 and OSS discard an
// incomplete request), so an object shorter than its file is tolerated; one of full size must
// still be the file. Returns how many such cut objects were seen.
inline int expect_only_whole_files(BlockingStore& store, const std::string& prefix,
                                   const std::map<std::string, PutJobProcess::Written>& written,
                                   std::map<std::string, std::string>& checked,
                                   bool keeps_cut_puts = false) {
  int cut = 0;
  ListQuery q;
  q.prefix = prefix;
  Status listed = store.list_all(q, [&](const ListPage& page) -> Status {
    for (const auto& o : page.objects) {
      std::string name = o.key.substr(prefix.size());
      if (checked[name] == o.etag) continue;
      SHOAL_ASSIGN(GetReply got, store.get(GetQuery{o.key, std::nullopt, ""}));
      auto it = written.find(name);
      if (it == written.end()) {
        ADD_FAILURE() << name << " is not a file the job wrote";
      } else if (keeps_cut_puts && got.data.size() < it->second.size) {
        ++cut;
      } else {
        EXPECT_EQ(xxh3(got.data), it->second.hash) << name << " is not whole";
      }
      checked[name] = o.etag;
    }
    return {};
  });
  EXPECT_TRUE(listed.ok()) << listed.error().describe();
  return cut;
}

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

// A writer config for an S3 server: destination s3://<bucket>/run1/, journal and spool under
// `dir`/state, multipart from 6 MiB in 5 MiB parts, quick retries, `extra` lines appended to the
// top table; watching `dir`/ckpt unless `watching` is false.
inline WriterConfig s3_writer_config(const fs::path& dir, const std::string& bucket,
                                     const StoreConfig& store, const std::string& extra,
                                     bool watching) {
  std::string toml;
  if (watching) toml += "watch = [\"" + (dir / "ckpt").string() + "\"]\n";
  toml += "destination = \"s3://" + bucket + "/run1/\"\n";
  toml += "journal = \"" + (dir / "state" / "writer.journal").string() + "\"\n";
  toml += "spool = \"" + (dir / "state" / "spool").string() + "\"\n";
  toml += "multipart_threshold = \"6MiB\"\npart_size = \"5MiB\"\n";
  toml += "retry_base_ms = 100\nretry_cap_ms = 1000\n";
  toml += extra;
  toml += "\n[store]\nendpoint = \"" + store.endpoint + "\"\nregion = \"" + store.region +
          "\"\naccess_key_id = \"" + store.credentials.access_key_id +
          "\"\naccess_key_secret = \"" + store.credentials.secret_access_key +
          "\"\nretries = 3\nretry_base_ms = 10\nretry_cap_ms = 100\n";
  fs::create_directories(dir / "state");
  fs::create_directories(dir / "ckpt");
  auto parsed = parse_writer_config(toml, "test.toml");
  EXPECT_TRUE(parsed.ok()) << parsed.error().describe();
  return parsed.ok() ? *parsed : WriterConfig{};
}

}  // namespace shoal::testing_writer
