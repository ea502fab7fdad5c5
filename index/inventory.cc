#include "index/inventory.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "index/csv.h"
#include "store/url_encode.h"

namespace shoal {
namespace {

Error bad(std::string_view name, const std::string& what) {
  return Error(ErrorKind::kInvalidArgument, "inventory " + std::string(name) + ": " + what);
}

std::string trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Result<InventorySchema> read_schema(std::string_view text, std::string_view name) {
  std::vector<std::string> columns;
  for (size_t at = 0; at <= text.size();) {
    size_t comma = std::min(text.find(',', at), text.size());
    columns.push_back(lower(trimmed(text.substr(at, comma - at))));
    at = comma + 1;
  }
  InventorySchema schema;
  schema.columns = columns.size();
  auto find = [&](std::string_view column) -> std::optional<size_t> {
    auto it = std::find(columns.begin(), columns.end(), column);
    if (it == columns.end()) return std::nullopt;
    return static_cast<size_t>(it - columns.begin());
  };
  struct Needed {
    const char* column;
    size_t* into;
  };
  for (Needed n : {Needed{"bucket", &schema.bucket}, Needed{"key", &schema.key},
                   Needed{"size", &schema.size}, Needed{"lastmodifieddate", &schema.mtime},
                   Needed{"etag", &schema.etag}}) {
    std::optional<size_t> at = find(n.column);
    if (!at) {
      return bad(name, "fileSchema \"" + std::string(text) + "\" has no " + n.column +
                           " column (an index needs Bucket, Key, Size, LastModifiedDate and "
                           "ETag: add them to the inventory's fields)");
    }
    *n.into = *at;
  }
  schema.is_latest = find("islatest");
  schema.is_delete_marker = find("isdeletemarker");
  return schema;
}


}  // namespace

Result<InventoryManifest> parse_inventory_manifest(std::string_view json, std::string_view name) {
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object())
    return bad(name, "manifest.json is not a JSON object");
  auto text = [&](const char* field) -> Result<std::string> {
    auto it = doc.find(field);
    if (it == doc.end() || !it->is_string())
      return bad(name, "manifest.json has no \"" + std::string(field) + "\" string");
    return it->get<std::string>();
  };
  InventoryManifest m;
  SHOAL_ASSIGN(m.source_bucket, text("sourceBucket"));
  SHOAL_ASSIGN(std::string format, text("fileFormat"));
  if (lower(format) != "csv") {
    return bad(name, "fileFormat is " + format +
                         ": only CSV inventories can be read (configure the report as CSV)");
  }
  SHOAL_ASSIGN(std::string schema, text("fileSchema"));
  SHOAL_ASSIGN(m.schema, read_schema(schema, name));
  auto files = doc.find("files");
  if (files == doc.end() || !files->is_array() || files->empty())
    return bad(name, "manifest.json lists no data files (\"files\")");
  for (const nlohmann::json& f : *files) {
    if (!f.is_object() || !f.contains("key") || !f["key"].is_string())
      return bad(name, "a \"files\" entry has no \"key\"");
    InventoryDataFile file;
    file.key = f["key"].get<std::string>();
    if (f.contains("size") && f["size"].is_number_unsigned()) file.size = f["size"].get<uint64_t>();
    if (f.contains("MD5checksum") && f["MD5checksum"].is_string())
      file.md5_hex = lower(f["MD5checksum"].get<std::string>());
    m.files.push_back(std::move(file));
  }
  return m;
}

Result<InventoryStats> parse_inventory_rows(std::string_view text, std::string_view name,
                                            const InventorySchema& schema,
                                            std::string_view bucket, const ManifestSink& sink) {
  CsvReader reader(text);
  std::vector<std::string_view> fields;
  std::string problem;
  InventoryStats stats;
  auto row_error = [&](const std::string& what) {
    return Error(ErrorKind::kInvalidArgument, "inventory data file " + std::string(name) +
                                                  " row " + std::to_string(reader.record_line()) +
                                                  ": " + what);
  };
  for (;;) {
    auto outcome = reader.next(fields, problem);
    if (outcome == CsvReader::Outcome::kEnd) break;
    if (outcome == CsvReader::Outcome::kBlank) continue;
    if (outcome == CsvReader::Outcome::kMalformed) return row_error(problem);
    ++stats.rows;
    if (fields.size() != schema.columns) {
      return row_error("expected " + std::to_string(schema.columns) +
                       " fields (as fileSchema names them), found " +
                       std::to_string(fields.size()));
    }
    if (fields[schema.bucket] != bucket) {
      ++stats.other_buckets;
      continue;
    }
    auto is_true = [&](std::optional<size_t> column) {
      return column && (fields[*column] == "true" || fields[*column] == "TRUE");
    };
    if ((schema.is_latest && !is_true(schema.is_latest)) || is_true(schema.is_delete_marker)) {
      ++stats.not_latest;
      continue;
    }
    Result<std::string> key = uri_decode(fields[schema.key], /*plus_as_space=*/true);
    if (!key.ok())
      return row_error("key " + shown_field(fields[schema.key]) + ": " + key.error().message);
    ManifestEntry entry;
    if (!fill_manifest_entry(*key, fields[schema.size], fields[schema.etag], fields[schema.mtime],
                             entry, problem))
      return row_error(problem);
    entry.line = reader.record_line();
    SHOAL_TRY(sink(entry));
    ++stats.entries;
  }
  return stats;
}

}  // namespace shoal
