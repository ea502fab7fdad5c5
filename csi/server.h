// shoal-csi's gRPC side: the CSI Identity and Node services on a Unix socket, each call turned
// into a NodePlugin call (csi/node.h) and its Error into the gRPC code the CSI spec asks for.
// Calls are logged by method, volume id and paths; secrets never are.
#pragma once

#include <string>

#include "common/result.h"
#include "csi/node.h"

namespace shoal::csi {

struct PluginOptions {
  std::string endpoint;  // unix:///csi/csi.sock (also unix:/path or a bare absolute path)
  std::string driver_name = "csi.shoal.dev";
  NodeOptions node;
};

// "unix:///a/b.sock" → "/a/b.sock"; other schemes are kInvalidArgument.
Result<std::string> unix_socket_path(const std::string& endpoint);

// Serves until SIGTERM or SIGINT, then stops taking calls and returns. Volumes stay mounted and
// their daemons keep running: a plugin stopped or upgraded leaves the pods' data in place.
Status run_plugin(const PluginOptions& options);

}  // namespace shoal::csi
