// Inventory reports, as S3 Inventory (CSV) and OSS inventory write them: a manifest.json naming
// the report's gzip-compressed CSV data files, and the data files themselves.
//
//   manifest.json  {"sourceBucket": "b", "fileFormat": "CSV",
//                   "fileSchema": "Bucket, Key, Size, LastModifiedDate, ETag, …",
//                   "files": [{"key": "…/data/x.csv.gz", "size": 123, "MD5checksum": "…"}]}
//   data file      gzip CSV without a header line, one object a row, columns as fileSchema
//                  names them: "b","train/a%20b.jpg","1234","2026-01-02T03:04:05.000Z","5d41…"
//
// Keys in the data files are URL-encoded ('+' for a space, as form encoding has it; a '+' of
// the key itself comes as %2B). Columns other than Bucket, Key, Size, LastModifiedDate and ETag
// are ignored, except IsLatest and IsDeleteMarker (S3 reports of versioned buckets): only the
// latest version of each object, and no delete marker, is indexed. Rows of other buckets are
// skipped (counted). A row that cannot be read is an error naming the data file and the row.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "index/manifest.h"

namespace shoal {

struct InventoryDataFile {
  std::string key;      // in the report's destination bucket
  uint64_t size = 0;    // compressed bytes, 0 when the manifest does not say
  std::string md5_hex;  // of the compressed bytes, lower case; empty when not given
};

// Where the columns an index needs sit in a data file's rows.
struct InventorySchema {
  size_t columns = 0;
  size_t bucket = 0, key = 0, size = 0, mtime = 0, etag = 0;
  std::optional<size_t> is_latest, is_delete_marker;
};

struct InventoryManifest {
  std::string source_bucket;
  InventorySchema schema;
  std::vector<InventoryDataFile> files;
};

// Parses a manifest.json; `name` prefixes every message. Refuses formats other than CSV, a
// schema without Key, Size, LastModifiedDate, ETag or Bucket, and a report with no data file.
Result<InventoryManifest> parse_inventory_manifest(std::string_view json, std::string_view name);

struct InventoryStats {
  uint64_t rows = 0;
  uint64_t entries = 0;         // handed to the sink
  uint64_t other_buckets = 0;   // rows of another bucket than the one indexed
  uint64_t not_latest = 0;      // older versions and delete markers
};

// Parses one data file's inflated text: each latest, non-deleted object of `bucket` goes to
// `sink` with its key URL-decoded (the entry's views are valid during the call only). `name`
// (the data file) and the row number prefix every message.
Result<InventoryStats> parse_inventory_rows(std::string_view text, std::string_view name,
                                            const InventorySchema& schema,
                                            std::string_view bucket, const ManifestSink& sink);

}  // namespace shoal
