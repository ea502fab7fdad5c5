// The shoal index file ("SHIX", format version 2): one little-endian file, mmapped and used in
// place. Layout and rules are in docs/index-format.md.
//
//   [header: 4096 bytes][section][section]…   every section starts on a 4096-byte boundary
//
// Sections: EROFS metadata blocks verbatim, the extent table (block → object, sorted by
// block), the object table (fixed-size records), the string pool (keys and ETags) and the
// build info (typed fields, index/build_info.h). Each has an xxh3-64 checksum in the header's section table.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "index/build_info.h"

namespace shoal::index {

inline constexpr uint32_t kBlockSize = 4096;
inline constexpr uint32_t kFormatVersion = 2;

enum class SectionKind : uint32_t {
  kMetadata = 1,   // EROFS metadata region: the first metadata_blocks of the device
  kExtents = 2,    // Extent[], sorted by first_block, one per non-empty file
  kObjects = 3,    // ObjectRecord[], indexed by object id
  kStrings = 4,    // bytes referenced by ObjectRecord
  kBuildInfo = 5,  // tagged fields: index/build_info.h
};
std::string_view section_name(SectionKind kind);

// A non-empty file's data: device blocks [first_block, first_block + ceil(size/4096)) hold
// object `object`'s bytes from offset 0.
struct Extent {
  uint32_t first_block;
  uint32_t object;
};
static_assert(sizeof(Extent) == 8);

// ObjectRecord::flags: the key was skipped by the key rules; the record is kept only so the
// build report can name it, and its key is not relative to the prefix.
inline constexpr uint8_t kObjectNotInVolume = 1;

struct ObjectRecord {
  uint64_t size;
  int64_t mtime_ns;
  uint32_t key_offset;  // into the string pool; the key relative to the index's prefix
  uint16_t key_length;
  uint8_t etag_length;
  uint8_t flags;        // kObjectNotInVolume, or 0
  uint32_t etag_offset;
  uint32_t first_block; // 0 for an empty object
};
static_assert(sizeof(ObjectRecord) == 32);

struct IndexSummary {
  uint64_t device_blocks = 0;
  uint32_t metadata_blocks = 0;
  uint64_t object_count = 0;
  uint64_t extent_count = 0;
  int64_t created_unix = 0;
};

// What a builder hands to write_index_file. Spans point into the builder's own memory.
struct IndexContents {
  IndexSummary summary;
  // The EROFS metadata, summary.metadata_blocks * 4096 bytes: either in memory, or streamed
  // by write_metadata (which hands every block to its sink in order), so a builder need not
  // hold the whole region at once.
  std::span<const uint8_t> metadata;
  using BlockSink = std::function<Status(std::span<const uint8_t>)>;
  std::function<Status(const BlockSink&)> write_metadata;
  std::span<const Extent> extents;
  std::span<const ObjectRecord> objects;
  std::span<const char> strings;
  BuildInfo build_info;
};

// Writes atomically: a temporary file beside `path`, fsynced, then renamed over it.
Status write_index_file(const std::string& path, const IndexContents& contents);

// An open, validated index. Move-only; unmaps on destruction.
class IndexFile {
 public:
  enum class Verify { kChecksums, kStructureOnly };

  // Refuses a truncated, foreign or corrupt file with an error naming the section at fault.
  // kChecksums hashes every section (memory speed); no per-entry parsing happens either way.
  static Result<IndexFile> open(const std::string& path, Verify verify = Verify::kChecksums);

  IndexFile(IndexFile&& other) noexcept;
  IndexFile& operator=(IndexFile&& other) noexcept;
  IndexFile(const IndexFile&) = delete;
  IndexFile& operator=(const IndexFile&) = delete;
  ~IndexFile();

  const IndexSummary& summary() const { return summary_; }
  uint64_t device_bytes() const { return summary_.device_blocks * kBlockSize; }
  std::span<const uint8_t> metadata() const { return metadata_; }
  std::span<const Extent> extents() const { return extents_; }
  std::span<const ObjectRecord> objects() const { return objects_; }
  const BuildInfo& build_info() const { return build_info_; }
  uint64_t file_bytes() const { return size_; }

  // Per-entry checks that open() skips: extents sorted, in the data region and naming real
  // objects whose blocks fit; every string reference inside the pool. `shoal index verify`.
  Status check_entries() const;

  // Empty views for references outside the pool (only a file failing check_entries has them).
  std::string_view key(const ObjectRecord& object) const;
  std::string_view etag(const ObjectRecord& object) const;
  // The extent holding device block `block`, or nullptr for metadata, holes and past the end.
  const Extent* find_extent(uint64_t block) const;
  // Without the usual "+ 4095": a corrupt size near 2^64 would wrap to zero blocks.
  uint64_t blocks_of(const ObjectRecord& object) const {
    return object.size / kBlockSize + (object.size % kBlockSize != 0);
  }

 private:
  IndexFile() = default;
  Status map(const std::string& path);
  Status validate(Verify verify);
  void unmap();

  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  IndexSummary summary_;
  std::span<const uint8_t> metadata_;
  std::span<const Extent> extents_;
  std::span<const ObjectRecord> objects_;
  std::span<const char> strings_;
  BuildInfo build_info_;
};

}  // namespace shoal::index
