// TLS to the store: nginx on loopback with a certificate from a private CA the test makes
// (openssl). Checking is on by default, so the untrusted certificate is refused — at once, in
// one handshake, since retrying cannot make it trusted — with a message saying what to do; the
// CA given in AWS_CA_BUNDLE or as [store] ca_file makes the same GET work; verify_tls = false
// works too and says loudly that nothing is checked. Driven through the `shoal` binary.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/command.h"
#include "support/loopback.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;
constexpr auto sh = test::run_command;
const std::string kShoal = SHOAL_BINARY_DIR "/tools/shoal";

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sh("command -v nginx && command -v openssl").exit_code, 0)
        << "nginx or openssl missing: run scripts/setup";
    fs::path d = dir_;
    std::string subj = " -subj '/CN=shoal test CA' ";
    auto r = sh("cd " + d.string() +
                " && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout ca.key -out ca.pem" +
                subj + "2>&1"
                " && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr"
                " -subj '/CN=127.0.0.1' 2>&1"
                " && printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext"
                " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
                " -days 2 -extfile san.ext -out server.pem 2>&1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    fs::create_directories(d / "www" / "bucket");
    std::ofstream(d / "www" / "bucket" / "hello.txt") << "hello over TLS\n";
    auto port = test::free_loopback_port();
    ASSERT_TRUE(port.ok()) << port.error().describe();
    port_ = *port;
    std::ofstream(d / "nginx.conf")
        << "user root;\nworker_processes 1;\ndaemon off;\npid " << (d / "nginx.pid").string()
        << ";\nerror_log " << (d / "error.log").string() << " info;\n"
        << "events { worker_connections 64; }\nhttp {\n  access_log off;\n"
        << "  server {\n    listen 127.0.0.1:" << port_ << " ssl;\n"
        << "    ssl_certificate " << (d / "server.pem").string() << ";\n"
        << "    ssl_certificate_key " << (d / "server.key").string() << ";\n"
        << "    root " << (d / "www").string() << ";\n  }\n}\n";
    nginx_ = ::fork();
    if (nginx_ == 0) {
      ::execlp("nginx", "nginx", "-c", (d / "nginx.conf").c_str(), "-p", d.c_str(), nullptr);
      ::_exit(127);
    }
    bool up = false;
    for (int i = 0; i < 200 && !up; ++i) {
      up = test::accepts_connections(port_);
      if (!up) ::usleep(20000);
    }
    ASSERT_TRUE(up) << "nginx did not start: " << read_text(d / "error.log");
    ::setenv("AWS_ACCESS_KEY_ID", "TLSTEST", 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", "TLSTEST", 1);
    ::unsetenv("AWS_CA_BUNDLE");
  }
  void TearDown() override {
    if (nginx_ > 0) {
      ::kill(nginx_, SIGTERM);
      ::waitpid(nginx_, nullptr, 0);
    }
    ::unsetenv("AWS_CA_BUNDLE");
  }

  test::CommandResult cat(const std::string& extra = "") {
    return sh(kShoal + " cat s3://bucket/hello.txt --endpoint https://127.0.0.1:" +
              std::to_string(port_) + " --region us-east-1 --path-style" + extra + " 2>&1");
  }
  // TLS handshakes nginx saw fail (it logs each at level info).
  int failed_handshakes() {
    std::string log = read_text(dir_ + "/error.log");
    int n = 0;
    for (size_t at = log.find("SSL_do_handshake() failed"); at != std::string::npos;
         at = log.find("SSL_do_handshake() failed", at + 1))
      ++n;
    return n;
  }

  test::TempDir temp_{"shoal-tls"};
  std::string dir_ = temp_.path();
  uint16_t port_ = 0;
  pid_t nginx_ = -1;
};

TEST_F(TlsTest, AnUntrustedCertificateIsRefusedAtOnceSayingWhatToDo) {
  test::CommandResult r = cat();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("TLS"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ca_file"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("AWS_CA_BUNDLE"), std::string::npos) << r.output;
  EXPECT_EQ(failed_handshakes(), 1) << "the refused handshake was retried:\n"
                                    << read_text(dir_ + "/error.log");
}

TEST_F(TlsTest, ThePrivateCaFromAwsCaBundleOrCaFileIsTrusted) {
  ::setenv("AWS_CA_BUNDLE", (dir_ + "/ca.pem").c_str(), 1);
  test::CommandResult r = cat();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "hello over TLS\n");
  ::unsetenv("AWS_CA_BUNDLE");

  std::ofstream(dir_ + "/store.toml") << "[store]\nca_file = \"" << dir_ << "/ca.pem\"\n";
  r = cat(" --config " + dir_ + "/store.toml");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "hello over TLS\n");

  std::ofstream(dir_ + "/missing.toml") << "[store]\nca_file = \"" << dir_ << "/nope.pem\"\n";
  r = cat(" --config " + dir_ + "/missing.toml");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("nope.pem"), std::string::npos) << r.output;
}

TEST_F(TlsTest, TurningCheckingOffWorksAndSaysSoLoudly) {
  std::ofstream(dir_ + "/insecure.toml") << "[store]\nverify_tls = false\n";
  test::CommandResult r = cat(" --config " + dir_ + "/insecure.toml");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("hello over TLS\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("NOT checked"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace shoal
