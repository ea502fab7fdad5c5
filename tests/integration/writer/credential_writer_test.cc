// The real writer (a child process) uploading a job's files continuously while its keys expire
// or rotate under it: the ECS RAM role of the fake metadata service issues keys that live 5 s,
// or a Secret directory is rotated with the old key revoked at once. The store verifies every
// signature and accepts only issued, unexpired keys (tests/support/fake_credentials.h). Every
// file must arrive byte for byte, with no failed upload attempt.
//
// The fake servers run on threads of this process, which the forked writer inherits the
// bookkeeping of but not the threads: the child's leak check says "Running thread … was not
// suspended", which is about those, and harmless.
#include "writer_harness.h"

#include "tests/support/fake_credentials.h"

namespace shoal::testing_writer {
namespace {

using namespace std::chrono_literals;

class CredentialWriter : public ::testing::Test {
 protected:
  // A writer config whose [store] picks the credentials (no keys, no environment).
  WriterConfig config(const std::string& store_lines) {
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
    auto parsed = parse_writer_config(toml, "test.toml");
    EXPECT_TRUE(parsed.ok()) << parsed.error().describe();
    return parsed.ok() ? *parsed : WriterConfig{};
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

  void expect_all_uploaded(WriterProcess& w, const std::map<std::string, std::string>& written) {
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
  }

  TempDir tmp_;
  test::IssuedKeys keys_;
  test::FakeCredentialServer metadata_{keys_, {.lifetime = 5s}};
  test::VerifyingStore store_{keys_};
};

TEST_F(CredentialWriter, UploadsAcrossSeveralExpiriesOfAnEcsRamRole) {
  WriterProcess w(config("credentials = \"ecs-ram-role\"\nmetadata_endpoint = \"" +
                         metadata_.endpoint() + "\"\nmetadata_role = \"shoal-test-role\"\n"));
  w.start();
  ASSERT_TRUE(w.wait_ready());
  auto written = write_for(15s);
  expect_all_uploaded(w, written);
  EXPECT_GE(keys_.issued(), 3) << "the keys were not refreshed";
  EXPECT_TRUE(store_.refusals().empty()) << store_.refusals().front();
  EXPECT_EQ(w.stop(), 0);
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
  WriterProcess w(config("credentials_dir = \"" + secret.string() + "\"\n"));
  w.start();
  ASSERT_TRUE(w.wait_ready());
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
  expect_all_uploaded(w, written);
  EXPECT_EQ(w.stop(), 0);
}

}  // namespace
}  // namespace shoal::testing_writer
