// The index builder: objects (from a parallel listing or a manifest) → key rules → directory
// tree → EROFS metadata + extent map → one SHIX index file.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/poll_reactor.h"
#include "common/result.h"
#include "index/build_info.h"
#include "index/index_file.h"
#include "index/keys.h"
#include "store/object_store.h"

namespace shoal::index {

// Objects as listed, packed: one 32-byte record each and every key and ETag in one arena.
class ObjectCollector {
 public:
  Status add(std::string_view key, uint64_t size, std::string_view etag, int64_t mtime_ns);
  // Reserves address space so growth never copies (untouched pages cost no memory).
  void reserve(size_t objects, size_t string_bytes) {
    records_.reserve(objects);
    strings_.reserve(string_bytes);
  }
  size_t size() const { return records_.size(); }
  std::string_view key(uint32_t id) const;
  std::vector<ObjectRecord>& records() { return records_; }
  const std::vector<char>& strings() const { return strings_; }

 private:
  std::vector<ObjectRecord> records_;
  std::vector<char> strings_;
};

struct BuildProgress {
  uint64_t objects = 0;       // collected so far
  uint64_t requests = 0;      // list requests done
  std::chrono::steady_clock::duration elapsed{};
  const char* phase = "";     // "listing", "reading manifest", "laying out", "writing"
};

struct BuildOptions {
  std::string source;           // the URI as given, recorded in build info
  std::string prefix;           // the key prefix the volume is rooted at ("" or ending in '/')
  bool keep_mtime = false;      // extended inodes carrying each object's mtime
  int list_concurrency = 16;    // list requests in flight
  std::function<void(const BuildProgress&)> progress;  // called at most every ~100 ms
};

struct BuildReport {
  uint64_t objects = 0;  // seen in the listing or manifest
  uint64_t files = 0;
  uint64_t directories = 0;  // including the root
  uint64_t outside_prefix = 0;  // manifest rows for other prefixes, counted, not listed
  std::vector<SkippedKey> skipped;
  uint64_t list_requests = 0;
  uint64_t device_bytes = 0;
  uint64_t data_bytes = 0;
  uint64_t index_bytes = 0;
  std::chrono::steady_clock::duration elapsed{};
};

// Normalizes a URI prefix to a directory prefix: "" stays "", "a/b" becomes "a/b/".
std::string directory_prefix(std::string_view prefix);

// Lists everything under options.prefix with up to options.list_concurrency requests in
// flight, partitioning the key space by delimiter-discovered common prefixes.
Status list_parallel(ObjectStore& store, PollReactor& loop, const BuildOptions& options,
                     ObjectCollector& out, BuildProgress& progress);

// Reads a manifest (see index/manifest.h) into `out`. Malformed lines stop the build with an
// error naming the line.
// Reads an inventory report (index/inventory.h) into `out`: the manifest.json text (named
// `manifest_name` in messages), then each data file it lists, in order, through `fetch` (the
// file's key in the report's destination → its bytes), checked against the manifest's size and
// MD5 before it is inflated and parsed. Only rows of `bucket` are indexed, which must be the
// report's source bucket. Any failure — a data file missing, a checksum mismatch, a truncated
// gzip, a malformed row — fails the whole read: the index is never built from part of a report.
using InventoryFetch = std::function<Result<std::string>(const std::string& key)>;
Status read_inventory(std::string_view manifest_json, const std::string& manifest_name,
                      std::string_view bucket, const InventoryFetch& fetch,
                      const BuildOptions& options, ObjectCollector& out, BuildProgress& progress);

Status read_manifest(const std::string& path, const BuildOptions& options, ObjectCollector& out,
                     BuildProgress& progress);

// Lays out the collected objects and writes the index to out_path.
Result<BuildReport> write_index(ObjectCollector& objects, const BuildOptions& options,
                                const std::string& out_path, BuildProgress& progress);

}  // namespace shoal::index
