// One volume's configuration: a TOML file (toml++) read by shoald and `shoal mount`. Every
// table and key is listed in docs/daemon.md; configs/ holds examples.
//
//   [source]   uri                      (default: the source recorded in the index)
//   [store]    store/config.h's table: endpoint, region, credential variable names, retries …
//   [index]    path
//   [cache]    memory = "4GiB", prefault = false
//   [fetch]    whole_object_max, chunk_size (sizes), max_inflight, rps
//   [prefetch] mode = "cross-file" | "none", window, window_max, readahead_chunks, warm_all,
//              hints (a file of volume paths, one a line)
//   [frontend] kind = "auto" or a transport's name, then the transports' own keys (the table in
//              daemon/frontends/frontend.cc): mountpoint, allow_other (fuse), socket, address,
//              port (nbd), socket (vhost-user-blk), ublk_queues, ublk_depth (ublk); export_name
//              for all
//   [metrics]  listen = "127.0.0.1:9109" | "unix:/run/shoal/x.sock"
//   [control]  socket = "/run/shoal/x.ctl"
//   [daemon]   workers = 4   (event loops serving the volume; default: half the CPUs shoald may
//              use, 1 to 16; see daemon/engine/engine_workers.h)
//
// Unknown tables and keys are errors, so a typo never falls back to a default silently. Every
// message names the file, the table and the key. Command-line flags override the file: callers
// apply them to the parsed VolumeConfig.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "daemon/engine/engine_options.h"
#include "daemon/engine/engine_workers.h"
#include "daemon/frontends/frontend.h"

namespace shoal {

struct VolumeConfig {
  std::string origin;  // the config file; empty when there is none

  std::string source;      // object-store URI; empty: the index's build-info source
  std::string index_path;  // the SHIX index file
  uint64_t cache_memory = 1ull << 30;
  bool cache_prefault = false;  // [cache] prefault: see BufferPool::Options::prefault
  EngineOptions engine;    // [fetch] and [prefetch]; hints are read from hints_file at start
  std::string hints_file;

  std::string frontend = "auto";
  FrontendOptions frontend_options;  // nbd.tcp_address stays empty (no TCP) unless a port is set

  std::string metrics_listen;  // empty: no metrics endpoint
  std::string control_socket;  // empty: no control socket

  int workers = 0;  // [daemon] workers; 0: default_worker_count()
};

// Parses a config; `origin` names it in messages. Also checks the [store] table (for both
// [store.oss] and [store.s3]), whose values store/config.h resolves when the store is opened.
Result<VolumeConfig> parse_volume_config(std::string_view toml_text, std::string_view origin);
Result<VolumeConfig> load_volume_config(const std::string& path);

// "4GiB", "512 MiB", "64k", "1.5G", "1000000" (bytes), "10MB" (decimal): binary units K, M, G, T
// (with or without "iB"), decimal units KB, MB, GB, TB, and B. Errors name `what`.
Result<uint64_t> parse_size(std::string_view text, std::string_view what);

// resolve_frontend_kind() (what "auto" stands for on this host) lives with the transport table
// in daemon/frontends/frontend.h.

}  // namespace shoal
