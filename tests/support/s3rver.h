// A real S3 server for integration tests: s3rver 3.7.1 (installed by scripts/setup into
// .deps/), started on a free 127.0.0.1 port with its data in a fresh temporary directory.
//
// s3rver accepts any well-formed SigV4 request from access key S3RVER without checking the
// signature, and answers any other key with 403 InvalidAccessKeyId. Its known deviations
// (see DESIGN.md) are noted by the tests that meet them.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/poll_reactor.h"
#include "common/result.h"
#include "store/object_store.h"
#include "store/store_config.h"

namespace shoal {

// The server is killed when the thread that started it (start() or restart()) ends, so a
// crashed test never leaves it behind: call those from a thread that outlives the server.
class S3rver {
 public:
  // Starts the server with `buckets` created and waits until it accepts connections. Fails
  // with a message naming what to do when s3rver or node is missing (run scripts/setup) or
  // when the server does not come up (the message carries its log).
  static Result<std::unique_ptr<S3rver>> start(std::vector<std::string> buckets);
  ~S3rver();  // kills the server and removes its directory
  S3rver(const S3rver&) = delete;
  S3rver& operator=(const S3rver&) = delete;

  // Stops the server (SIGTERM, then SIGKILL); its data stays for restart().
  void stop();
  // Starts it again on the same port and data, and waits until it accepts connections.
  Status restart();

  uint16_t port() const { return port_; }
  std::string endpoint() const;  // "http://127.0.0.1:<port>"
  // An s3:// store config for this server: its endpoint, region us-east-1, the S3RVER keys
  // and a short retry policy (3 attempts, 10 ms base, 100 ms cap) so fault tests stay quick.
  StoreConfig config() const;

 private:
  S3rver() = default;
  Status launch();
  Status wait_until_ready();
  std::string log_tail() const;

  std::string dir_;  // the temporary directory: data/ and s3rver.log
  std::vector<std::string> buckets_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// Runs one store operation to completion on `loop`: start(done) issues it, and the loop runs
// until done has been called. A loop that goes idle first yields a kInternal error.
template <class T, class Start>
Result<T> run_to_completion(PollReactor& loop, Start start) {
  std::optional<Result<T>> out;
  start(Done<T>([&out](Result<T> r) { out.emplace(std::move(r)); }));
  if (!loop.run_until([&out] { return out.has_value(); }))
    return Error(ErrorKind::kInternal, "the reactor went idle before the operation finished");
  return std::move(*out);
}

// "<prefix>00000" … "<prefix>{n-1}", zero-padded to five digits so they sort numerically.
std::vector<std::string> numbered_keys(const std::string& prefix, int n);

// PUTs every key with its own name as its content, `parallel` requests in flight at a time.
Status put_keys(PollReactor& loop, ObjectStore& store, const std::vector<std::string>& keys,
                int parallel = 32);

}  // namespace shoal
