// Where and how to reach a store, fully resolved (flags > config file > environment).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "store/credentials.h"

namespace shoal {

class CredentialProvider;  // store/credentials/provider.h

// oss://bucket/prefix, s3://bucket/prefix, file:///abs/dir. For file:// the bucket is empty
// and keys are absolute paths without the leading '/', so "file:///data/set" has prefix
// "data/set" and the object /data/set/a.jpg has key "data/set/a.jpg".
struct ObjectUri {
  enum class Scheme { kOss, kS3, kFile };
  Scheme scheme = Scheme::kFile;
  std::string bucket;
  std::string prefix;  // a key, or a key prefix; no leading '/'

  std::string to_string() const;
};

struct RetryPolicy {
  int max_attempts = 5;  // including the first
  std::chrono::milliseconds base{200};
  std::chrono::milliseconds cap{20000};
};

struct StoreConfig {
  enum class Addressing { kAuto, kPath, kVirtualHosted };
  enum class OssSignature { kV4, kV1 };

  std::string endpoint;  // "https://oss-cn-hangzhou.aliyuncs.com", "http://127.0.0.1:4568"
  std::string region;    // "cn-hangzhou", "us-east-1"
  Addressing addressing = Addressing::kAuto;  // auto: path style for IPs and localhost
  OssSignature oss_signature = OssSignature::kV4;
  Credentials credentials;  // fixed keys; used when credential_provider is null
  // Keys that rotate or expire (a Secret directory, STS, instance metadata): asked on every
  // request. Shared by every store opened from copies of this config, on any thread.
  std::shared_ptr<CredentialProvider> credential_provider;
  RetryPolicy retry;
  int max_connections = 64;  // per host
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{60000};  // no progress for this long = timeout
  bool verify_tls = true;
  std::string ca_file;  // PEM CAs trusted besides the system's (private clouds); empty: none
  // The time requests are signed with; empty: the system clock. Tests set it to prove a
  // server refuses a request signed outside its allowed clock skew.
  std::function<std::chrono::system_clock::time_point()> signing_clock;
};

}  // namespace shoal
