// What a CSI request asks for, checked and turned into shoal's terms before anything is
// started: the volume capability (read-only file system access only), the PV's
// volumeAttributes (the ACK names where they mean the same thing, then shoal's own) and the
// secrets (access keys). Pure: no files, no network, so every rule is unit-tested.
//
// Errors are kInvalidArgument naming the attribute or secret key and what to do; they never
// carry a secret's value.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/result.h"
#include "daemon/engine/engine_options.h"

namespace shoal::csi {

using StringMap = std::map<std::string, std::string>;

// The parts of csi.v1.VolumeCapability the plugin decides on.
struct Capability {
  bool present = false;  // the request carried a volume_capability
  bool block = false;    // access_type block (else mount, or unset)
  int access_mode = 0;   // csi.v1.VolumeCapability.AccessMode.Mode
  bool mode_set = false; // the capability carried an access_mode
};

// Read-only file-system access in a reader-only mode, else why not. Writer modes and block
// volumes point at `shoal writer`, the write side of the read/write split.
Status check_capability(const Capability& capability);

// Secret keys shoal reads: akId/akSecret (ACK's names), AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY, and a session token as securityToken or AWS_SESSION_TOKEN.
struct Credentials {
  std::string access_key_id;
  std::string access_key_secret;
  std::string session_token;
};
// No keys at all: nullopt (the node's environment is used). Unknown keys, or an id without a
// secret (or the other way round), are errors naming the keys only.
Result<std::optional<Credentials>> parse_secrets(const StringMap& secrets);

// A volume as the attributes describe it.
struct VolumeRequest {
  std::string bucket;
  std::string source;  // what shoal mounts: oss://bucket/prefix/, s3://…, or the `index` URI
  std::string frontend;                  // empty: shoald's default
  std::optional<uint64_t> cache_memory;  // bytes
  std::optional<PrefetchMode> prefetch;
  std::optional<Credentials> credentials;
  // The volume config (TOML) handed to shoal: [store] endpoint, region and the credentials,
  // [fetch] rps, [prefetch] hints. It may hold secrets: written only to a 0600 file.
  std::string config_toml;
};

// `attributes` is the request's volume_context (kubelet's own csi.storage.k8s.io/* keys are
// ignored), `secrets` its secrets map.
Result<VolumeRequest> parse_volume_request(const StringMap& attributes, const StringMap& secrets);

}  // namespace shoal::csi
