// A real S3 server for integration tests: Ceph's RADOS Gateway (Debian's radosgw, Ceph 16.2,
// installed by scripts/setup) on a private throw-away cluster — one monitor, one memstore OSD,
// no manager, no systemd — in a fresh temporary directory, on free 127.0.0.1 ports.
//
// Unlike s3rver it checks every signature, the request time (15 minutes of skew either way)
// and Content-MD5, and it lists, pages and groups common prefixes as S3 does. Its deviations
// met so far are listed in docs/testing.md and switched off, with why, where a test meets them.
//
// Several clusters may run at once: each has its own fsid, ports and directory. A cluster
// comes up in about 1.5 s and ~130 MB, so the tests of one process share one.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/store_config.h"

namespace shoal {

// The daemons are killed when the thread that started the cluster ends (and by the
// destructor), so a crashed test never leaves a cluster behind: call start() from a thread
// that outlives it.
class Rgw {
 public:
  // The one user the cluster has (radosgw-admin user create). Test keys, not secrets of
  // anyone's; still, tests never print the secret.
  static constexpr const char* kAccessKey = "SHOALRGWTESTACCESSKY";
  static constexpr const char* kSecretKey = "shoal-rgw-test-secret-key-0123456789abcdef";
  static constexpr const char* kRegion = "us-east-1";

  // Brings the cluster up, creates the user and `buckets`. Fails with kNotFound and a message
  // saying to run scripts/setup when the Ceph packages are missing (tests then fail, never
  // skip), and with the daemons' logs when the cluster does not come up.
  static Result<std::unique_ptr<Rgw>> start(std::vector<std::string> buckets);
  ~Rgw();  // kills the daemons (SIGKILL: nothing of a throw-away cluster needs saving)
  Rgw(const Rgw&) = delete;
  Rgw& operator=(const Rgw&) = delete;

  // Creates a bucket owned by the test user (a signed PUT through curl: the store has no
  // bucket calls). Not "auth": RGW serves Swift's authentication at /auth and answers 405 to
  // a bucket of that name.
  Status create_bucket(const std::string& bucket);

  // The multipart uploads in progress in `bucket` (ListMultipartUploads, through curl: the store
  // has no such call, the writer never needs one), as (key, upload id) pairs.
  struct Upload {
    std::string key;
    std::string upload_id;
  };
  Result<std::vector<Upload>> multipart_uploads(const std::string& bucket) const;

  uint16_t port() const { return rgw_port_; }
  std::string endpoint() const;  // "http://127.0.0.1:<port>"
  // An s3:// store config for this server: its endpoint, region us-east-1, the test user's
  // keys and a short retry policy (3 attempts, 10 ms base, 100 ms cap) so refusals stay quick.
  StoreConfig config() const;

  // The last lines of radosgw's log, for a failing test's message.
  std::string log_tail() const;

 private:
  Rgw() = default;
  Status bring_up();
  Result<pid_t> spawn(const std::string& name, std::vector<std::string> args);
  Status wait_for_log(pid_t pid, const std::string& name, const std::string& file,
                      const std::string& needle);
  Status wait_for_port(pid_t pid);
  Status run(const std::string& what, const std::string& command);
  Error failure(ErrorKind kind, const std::string& message) const;
  void kill_all();

  std::string dir_;   // ceph.conf, mon/, osd/, run/, log/
  std::string conf_;  // dir_/ceph.conf
  uint16_t mon_port_ = 0;
  uint16_t rgw_port_ = 0;
  std::vector<pid_t> pids_;  // radosgw, the OSD and the monitor, in the order they started
};

}  // namespace shoal
