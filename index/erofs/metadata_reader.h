// Reads back the metadata region ImageWriter produces (flat-plain inodes and directories, no
// xattrs): the super block, inodes by nid, directory listings and path lookups. Everything is
// checked against the bytes it is given, so a damaged region gives a kCorrupt error, never an
// out-of-bounds read. For tools (ls, verify) and tests; the kernel is the real reader.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "index/erofs/file_tree.h"
#include "index/erofs/format.h"

namespace shoal::index::erofs {

struct InodeInfo {
  uint64_t nid = 0;
  bool extended = false;
  uint16_t mode = 0;
  uint64_t size = 0;
  uint32_t nlink = 0;
  uint32_t start_block = 0;
  uint32_t ino = 0;
  Timestamp mtime;

  bool is_directory() const { return (mode & kModeTypeMask) == kModeDirectory; }
};

struct DirectoryEntry {
  std::string_view name;  // points into the metadata
  uint64_t nid = 0;
  uint8_t file_type = 0;
};

class MetadataReader {
 public:
  // Checks the magic, block size and super block checksum. `metadata` must hold at least the
  // metadata blocks (a whole device image works too) and outlive the reader.
  static Result<MetadataReader> open(std::span<const uint8_t> metadata);

  const SuperBlock& super_block() const { return super_block_; }
  uint64_t root_nid() const { return super_block_.root_nid; }

  Result<InodeInfo> inode(uint64_t nid) const;
  // Every entry including "." and "..", in on-disk order; checks each block's layout and that
  // names are strictly increasing in EROFS order across the whole directory.
  Result<std::vector<DirectoryEntry>> list(const InodeInfo& directory) const;
  // "/a/b" or "a/b" from the root, by binary search in each directory like the kernel.
  Result<InodeInfo> lookup(std::string_view path) const;

 private:
  explicit MetadataReader(std::span<const uint8_t> metadata, const SuperBlock& sb)
      : metadata_(metadata), super_block_(sb) {}
  Result<std::span<const uint8_t>> directory_block(const InodeInfo& dir, uint64_t index) const;
  Result<std::vector<DirectoryEntry>> parse_block(const InodeInfo& dir, uint64_t index) const;
  Result<InodeInfo> find_in(const InodeInfo& dir, std::string_view name) const;

  std::span<const uint8_t> metadata_;
  SuperBlock super_block_;
};

}  // namespace shoal::index::erofs
