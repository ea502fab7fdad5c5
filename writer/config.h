// The writer's TOML config. Top-level keys (sizes are bytes, or strings such as "64MiB"):
//
//   watch = ["/ckpt"]                       # directories watched recursively (may be empty)
//   destination = "oss://bucket/run1/"      # objects go to <destination>/<relative path>
//   journal = "/var/lib/shoal/writer.journal"
//   spool = "/var/lib/shoal/spool"          # same file system as the watched dirs: hard links
//   spool_budget = "10GiB"                  # 0 or absent: no limit
//   control_socket = "/run/shoal/writer.sock"  # default: <journal>.sock
//   multipart_threshold = "64MiB"           # files at least this large go multipart
//   part_size = 0                           # 0: chosen from the file size
//   parallel_uploads = 4                    # files uploading at once
//   parallel_parts = 4                      # parts of one multipart upload at once
//   retry_base_ms = 1000                    # writer-level retry after the store gave up
//   retry_cap_ms = 60000
//   ignore = [".*", "*.tmp", "*~"]          # base-name patterns never taken (fnmatch)
//   [retention]  keep = 2, pattern = 'model\.ckpt-(\d+)'
//   [[append]]   file = "/logs/train.log", key = "logs/train.log",
//                roll_size = "64MiB", roll_seconds = 3600, poll_ms = 1000
//   [store] ...                             # see store/config.h
// Unknown keys are errors, and every error names the file and the key.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/config.h"
#include "store/store_config.h"

namespace shoal {

struct RetentionConfig {
  int keep = 1;         // newest generations kept remotely
  std::string pattern;  // ECMAScript regex with one capture group: the generation
};

struct AppendStreamConfig {
  std::string file;  // the growing local file
  std::string key;   // relative to the destination prefix
  // Only on stores without append (S3): the bytes go to numbered segments key.00001, …, each
  // closed when it reaches roll_size or has been open for roll_interval.
  uint64_t roll_size = 64ull << 20;
  std::chrono::seconds roll_interval{3600};
  std::chrono::milliseconds poll_interval{1000};
};

struct WriterConfig {
  std::vector<std::string> watch;
  ObjectUri destination;  // prefix empty or ending in '/'
  std::string journal;
  std::string spool;
  uint64_t spool_budget = 0;  // 0: no limit
  std::string control_socket;
  uint64_t multipart_threshold = 64ull << 20;
  uint64_t part_size = 0;
  int parallel_uploads = 4;
  int parallel_parts = 4;
  std::chrono::milliseconds retry_base{1000};
  std::chrono::milliseconds retry_cap{60000};
  std::vector<std::string> ignore = {".*", "*.tmp", "*.temp", "*~", "*.swp", "*.part",
                                     "*.partial"};
  std::optional<RetentionConfig> retention;
  std::vector<AppendStreamConfig> append;
  StoreFileSettings store;  // the [store] tables, resolved when the store is opened
  std::string origin;       // the file the config came from, for messages
};

// `origin` names the source in messages. Relative paths are refused: a daemon's working
// directory is not something a config should depend on.
Result<WriterConfig> parse_writer_config(std::string_view toml_text, std::string_view origin);
Result<WriterConfig> load_writer_config(const std::string& path);

// "64MiB" → 67108864; plain digits are bytes; units B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB
// (all binary).
Result<uint64_t> parse_byte_size(std::string_view text);

// The object key for a file at `relative` below a watched directory.
std::string destination_key(const WriterConfig& config, std::string_view relative);

}  // namespace shoal
