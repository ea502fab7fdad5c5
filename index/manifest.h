// Object manifests: an RFC 4180 CSV file with one object per line, so a bucket of millions of
// objects can be indexed without listing it (the form of an OSS / S3 Inventory report).
//
//   key,size,etag,mtime                  ← optional header; with it, columns may be in any
//   train/a.jpg,1234,"5d41…",2026-01-02T03:04:05.000Z   order and extra columns are ignored
//
// Keys are relative to the bucket root. Fields may be quoted ("" is a quote inside quotes;
// commas and line breaks inside quotes are data); lines end in LF or CRLF; blank lines are
// ignored. A quoted ETag ("abc" inside the field) loses its quotes. mtime is ISO 8601 in
// UTC: 2026-01-02T03:04:05Z, with an optional fraction of up to nanoseconds and an optional
// 'Z' or ±HH:MM offset.
//
// Parsing streams over the text (the file is mmapped) and hands each entry to a callback with
// views into the file; only a field with "" escapes is copied, into one reused buffer. A pipe
// (`--from-manifest /dev/stdin`) or a gzip file (several members allowed) is first copied,
// inflated, into an anonymous memory file and mapped from there; a truncated or damaged gzip
// stream is an error, never a shorter manifest.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"

namespace shoal {

struct ManifestEntry {
  std::string_view key;   // valid during the callback only
  uint64_t size = 0;
  std::string_view etag;  // without quotes; valid during the callback only
  int64_t mtime_ns = 0;   // nanoseconds since the Unix epoch
  uint64_t line = 0;      // 1-based line where the entry starts
};

// An error stops the parse and is returned from it.
using ManifestSink = std::function<Status(const ManifestEntry&)>;
// Called for each malformed line (kInvalidArgument, the message names the line); parsing
// goes on with the next line. Without it, the first malformed line ends the parse.
using MalformedSink = std::function<void(const Error&)>;

struct ManifestStats {
  uint64_t entries = 0;
  uint64_t malformed = 0;
  bool had_header = false;
};

// `name` (the file's path) prefixes every message.
Result<ManifestStats> parse_manifest(std::string_view text, std::string_view name,
                                     const ManifestSink& sink,
                                     const MalformedSink& on_malformed = nullptr);

// For readers of other CSV layouts (inventory reports): fills `entry` from the four fields as
// a manifest line's are read (a quoted ETag loses its quotes), or says in `problem` what is
// wrong. `entry` views the fields.
bool fill_manifest_entry(std::string_view key, std::string_view size, std::string_view etag,
                         std::string_view mtime, ManifestEntry& entry, std::string& problem);
// A field quoted for a message, shortened so a huge field cannot flood the output.
std::string shown_field(std::string_view field);

// ISO 8601 date-time → nanoseconds since the epoch; kInvalidArgument when malformed.
Result<int64_t> parse_manifest_mtime(std::string_view text);

// A manifest file mapped read-only for parsing.
class ManifestFile {
 public:
  static Result<ManifestFile> open(std::string path);
  // The same for bytes already in memory (a data file fetched from a store); `name` names them
  // in messages. gzip is inflated as from a file.
  static Result<ManifestFile> from_bytes(std::string name, std::string_view bytes);
  ManifestFile(ManifestFile&& other) noexcept;
  ManifestFile& operator=(ManifestFile&& other) noexcept;
  ManifestFile(const ManifestFile&) = delete;
  ManifestFile& operator=(const ManifestFile&) = delete;
  ~ManifestFile();

  const std::string& path() const { return path_; }
  std::string_view text() const { return {static_cast<const char*>(data_), size_}; }
  Result<ManifestStats> parse(const ManifestSink& sink,
                              const MalformedSink& on_malformed = nullptr) const {
    return parse_manifest(text(), path_, sink, on_malformed);
  }

 private:
  ManifestFile(std::string path, void* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  static Result<ManifestFile> adopt(std::string path, int fd);  // closes fd
  void unmap();

  std::string path_;
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace shoal
