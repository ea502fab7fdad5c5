// The real writer (a child process) uploading a job's files continuously while its keys expire
// or rotate under it: the ECS RAM role of the fake metadata service issues keys that live 5 s,
// or a Secret directory is rotated with the old key revoked at once. The store verifies every
// signature and accepts only issued, unexpired keys (tests/support/fake_credentials.h). Every
// file must arrive byte for byte, with no failed upload attempt.
//
// The writer runs as `shoal writer run` (fork, then exec at once), not as the harness's forked
// WriterProcess: the fake servers run on threads of this process, and a child forked from a
// threaded process that goes on allocating can deadlock on a lock one of them held (ASan's
// allocator does).
#include "writer_harness.h"

#include "tests/support/fake_credentials.h"

namespace shoal::testing_writer {
namespace {

using namespace std::chrono_literals;

// `shoal writer run --config FILE`, its output in `log`.
class ExecWriter {
 public:
  ExecWriter(std::string config_path, std::string control_socket, std::string log)
      : config_(std::move(config_path)), control_(std::move(control_socket)), log_(std::move(log)) {}
  ~ExecWriter() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  void start() {
    std::string shoal = SHOAL_BINARY_DIR "/tools/shoal";
    std::vector<std::string> args = {shoal, "writer", "run", "--config", config_};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int out = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(out, 0) << log_ << ": " << std::strerror(errno);
    pid_ = ::fork();
    ASSERT_GE(pid_, 0) << "fork: " << std::strerror(errno);
    if (pid_ == 0) {  // only async-signal-safe calls until exec
      ::dup2(out, STDOUT_FILENO);
      ::dup2(out, STDERR_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out);
  }
  bool wait_ready() {
    return eventually([&] {
      int status = 0;
      if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        ADD_FAILURE() << "the writer exited during start-up: " << read_file(log_);
        return true;
      }
      return call({"status"}).ok();
    }) && pid_ > 0;
  }
  Result<ControlReply> call(const std::vector<std::string>& words) const {
    return control_call(control_, words);
  }
  int64_t status_number(const std::string& name) const {
    auto reply = call({"status"});
    if (!reply.ok() || !reply->ok) return -1;
    return std::stoll(reply->get(name));
  }
  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::string log() const { return read_file(log_); }

 private:
  std::string config_;
  std::string control_;
  std::string log_;
  pid_t pid_ = -1;
};

class CredentialWriter : public ::testing::Test {
 protected:
  // A writer whose [store] picks the credentials (no keys, no environment).
  std::unique_ptr<ExecWriter> writer(const std::string& store_lines) {
    std::string toml = config_text(store_lines);
    std::string path = (tmp_.path() / "writer.toml").string();
    std::ofstream(path) << toml;
    auto parsed = parse_writer_config(toml, path);
    EXPECT_TRUE(parsed.ok()) << parsed.error().describe();
    if (!parsed.ok()) return nullptr;
    return std::make_unique<ExecWriter>(path, parsed->control_socket,
                                        (tmp_.path() / "writer.log").string());
  }

  std::string config_text(const std::string& store_lines) {
    fs::path dir = tmp_.path();
    std::string toml = "watch = [\"" + (dir / "ckpt").string() + "\"]\n";
    toml += "destination = \"s3://bkt/run1/\"\n";
    toml += "journal = \"" + (dir / "state" / "writer.journal").string() + "\"\n";
    toml += "spool = \"" + (dir / "state" / "spool").string() + "\"\n";
    toml += "retry_base_ms = 100\nretry_cap_ms = 1000\n";
    toml += "\n[store]\nendpoint = \"" + store_.endpoint() +
            "\"\nregion = \"us-east-1\"\nretries = 3\nretry_base_ms = 10\nretry_cap_ms = 100\n";
    toml += store_lines;
    fs::create_directories(dir / "state");
    fs::create_directories(dir / "ckpt");
    return toml;
  }

  // Writes a file every 50 ms for `how_long`, calling `during` once halfway; returns the
  // contents by name.
  std::map<std::string, std::string> write_for(std::chrono::seconds how_long,
                                               const std::function<void(int)>& during = {}) {
    std::map<std::string, std::string> written;
    std::mt19937_64 rng(7);
    auto start = std::chrono::steady_clock::now();
    for (int n = 0; std::chrono::steady_clock::now() < start + how_long; ++n) {
      std::string name = "f-" + std::to_string(n);
      std::string bytes = random_bytes(rng, 1000 + static_cast<size_t>(n) * 37);
      write_file(tmp_.path() / "ckpt" / name, bytes);
      written[name] = bytes;
      if (during) during(n);
      std::this_thread::sleep_for(50ms);
    }
    return written;
  }

  void expect_all_uploaded(ExecWriter& w, const std::map<std::string, std::string>& written) {
    ASSERT_TRUE(eventually([&] {
      return w.status_number("taken_files") == static_cast<int64_t>(written.size());
    })) << "the writer took " << w.status_number("taken_files") << " of " << written.size();
    auto reply = w.call({"flush", "0"});
    ASSERT_TRUE(reply.ok()) << reply.error().describe();
    ASSERT_TRUE(reply->ok) << reply->error;
    for (const auto& [name, bytes] : written) {
      auto got = store_.object("run1/" + name);
      ASSERT_TRUE(got.has_value()) << name << " never arrived";
      EXPECT_EQ(xxh3(*got), xxh3(bytes)) << name;
    }
    EXPECT_EQ(w.status_number("failed_attempts"), 0) << "an upload failed and was retried";
    EXPECT_EQ(w.log().find("] error: "), std::string::npos) << w.log();
    for (const char* secret : {"secret-", "token-"})
      EXPECT_EQ(w.log().find(secret), std::string::npos) << "a secret in the writer's log";
  }

  TempDir tmp_;
  test::IssuedKeys keys_;
  test::FakeCredentialServer metadata_{keys_, {.lifetime = 5s}};
  test::VerifyingStore store_{keys_};
};

TEST_F(CredentialWriter, UploadsAcrossSeveralExpiriesOfAnEcsRamRole) {
  auto w = writer("credentials = \"ecs-ram-role\"\nmetadata_endpoint = \"" +
                  metadata_.endpoint() + "\"\nmetadata_role = \"shoal-test-role\"\n");
  ASSERT_NE(w, nullptr);
  w->start();
  ASSERT_TRUE(w->wait_ready());
  auto written = write_for(15s);
  expect_all_uploaded(*w, written);
  EXPECT_GE(keys_.issued(), 3) << "the keys were not refreshed";
  EXPECT_TRUE(store_.refusals().empty()) << store_.refusals().front();
  EXPECT_EQ(w->stop(), 0) << w->log();
}

// kubelet's layout: names -> ..data/<name>, ..data -> ..<version>, swapped atomically.
void publish_secret(const fs::path& dir, const std::string& version, const Credentials& c) {
  fs::path versioned = dir / (".." + version);
  fs::create_directories(versioned);
  write_file(versioned / "AccessKeyId", c.access_key_id);
  write_file(versioned / "AccessKeySecret", c.secret_access_key);
  fs::path tmp = dir / "..data_tmp";
  fs::remove(tmp);
  fs::create_symlink(".." + version, tmp);
  fs::rename(tmp, dir / "..data");
  for (const char* name : {"AccessKeyId", "AccessKeySecret"})
    if (!fs::is_symlink(dir / name)) fs::create_symlink(fs::path("..data") / name, dir / name);
}

TEST_F(CredentialWriter, UploadsAcrossSecretRotationsWithTheOldKeyRevokedAtOnce) {
  fs::path secret = tmp_.path() / "secret";
  Credentials current{"LTAIrotation0", "rotation-secret-0", ""};
  keys_.add_fixed(current);
  publish_secret(secret, "v0", current);
  auto w = writer("credentials_dir = \"" + secret.string() + "\"\n");
  ASSERT_NE(w, nullptr);
  w->start();
  ASSERT_TRUE(w->wait_ready());
  int rotations = 0;
  auto written = write_for(9s, [&](int n) {
    if (n % 50 != 49) return;  // about every 2.5 s
    ++rotations;
    Credentials next{"LTAIrotation" + std::to_string(rotations),
                     "rotation-secret-" + std::to_string(rotations), ""};
    keys_.add_fixed(next);
    publish_secret(secret, "v" + std::to_string(rotations), next);
    keys_.revoke(current.access_key_id);
    current = next;
  });
  ASSERT_GE(rotations, 2);
  expect_all_uploaded(*w, written);
  EXPECT_EQ(w->stop(), 0) << w->log();
}

}  // namespace
}  // namespace shoal::testing_writer
