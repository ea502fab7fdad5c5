#include "index/erofs/metadata_reader.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace shoal::index::erofs {
namespace {

Error corrupt(std::string message) { return Error(ErrorKind::kCorrupt, std::move(message)); }

std::string at_nid(uint64_t nid) { return " (nid " + std::to_string(nid) + ")"; }

// Without the usual "+ 4095": a corrupt size near 2^64 would wrap to zero blocks.
uint64_t blocks_of(uint64_t bytes) { return bytes / kBlockSize + (bytes % kBlockSize != 0); }

template <class T>
T load(const uint8_t* at) {
  T value;
  std::memcpy(&value, at, sizeof(T));
  return value;
}

InodeInfo from_compact(const CompactInode& raw, const SuperBlock& sb) {
  InodeInfo info;
  info.mode = raw.i_mode;
  info.size = raw.i_size;
  info.nlink = raw.i_nlink;
  info.start_block = raw.i_startblk_lo;
  info.ino = raw.i_ino;
  info.mtime = {static_cast<int64_t>(sb.epoch + raw.i_mtime), sb.fixed_nsec};
  return info;
}

InodeInfo from_extended(const ExtendedInode& raw) {
  InodeInfo info;
  info.extended = true;
  info.mode = raw.i_mode;
  info.size = raw.i_size;
  info.nlink = raw.i_nlink;
  info.start_block = raw.i_startblk_lo;
  info.ino = raw.i_ino;
  info.mtime = {static_cast<int64_t>(raw.i_mtime), raw.i_mtime_nsec};
  return info;
}

}  // namespace

Result<MetadataReader> MetadataReader::open(std::span<const uint8_t> metadata) {
  if (metadata.size() < kBlockSize) {
    return corrupt("EROFS metadata of " + std::to_string(metadata.size()) +
                   " bytes is shorter than one block");
  }
  auto sb = load<SuperBlock>(metadata.data() + kSuperBlockOffset);
  if (sb.magic != kMagic) return corrupt("no EROFS super block (bad magic)");
  if (sb.blkszbits != kBlockSizeBits) {
    return corrupt("EROFS block size 2^" + std::to_string(sb.blkszbits) + " is not 4096");
  }
  if (sb.feature_compat & kFeatureCompatSuperBlockChecksum) {
    uint32_t actual = super_block_checksum(metadata.first<kBlockSize>());
    if (actual != sb.checksum) return corrupt("EROFS super block checksum mismatch");
  }
  return MetadataReader(metadata, sb);
}

Result<InodeInfo> MetadataReader::inode(uint64_t nid) const {
  // nid comes from a dirent (64 bits): nid * 32 may wrap, and so may the offset plus an
  // inode's size, so both are checked by division and subtraction.
  uint64_t table = uint64_t{super_block_.meta_blkaddr} * kBlockSize;
  if (table > metadata_.size() || nid > (metadata_.size() - table) / kInodeSlotSize) {
    return corrupt("inode" + at_nid(nid) + " lies past the metadata");
  }
  uint64_t offset = table + nid * kInodeSlotSize;
  if (metadata_.size() - offset < sizeof(CompactInode)) {
    return corrupt("inode" + at_nid(nid) + " lies past the metadata");
  }
  auto format = load<uint16_t>(metadata_.data() + offset);
  if ((format >> kInodeDataLayoutBit & 7) != kDataLayoutFlatPlain) {
    return corrupt("inode" + at_nid(nid) + " has data layout " +
                   std::to_string(format >> kInodeDataLayoutBit & 7) + ", not flat-plain");
  }
  InodeInfo info;
  if ((format >> kInodeVersionBit & 1) == kInodeLayoutExtended) {
    if (metadata_.size() - offset < sizeof(ExtendedInode)) {
      return corrupt("extended inode" + at_nid(nid) + " lies past the metadata");
    }
    info = from_extended(load<ExtendedInode>(metadata_.data() + offset));
  } else {
    info = from_compact(load<CompactInode>(metadata_.data() + offset), super_block_);
  }
  info.nid = nid;
  return info;
}

Result<std::span<const uint8_t>> MetadataReader::directory_block(const InodeInfo& dir,
                                                                  uint64_t index) const {
  // A corrupt size gives block indices far past the region: refused before they are scaled.
  uint64_t region_blocks = metadata_.size() / kBlockSize;
  if (index > region_blocks || dir.start_block > region_blocks - index) {
    return corrupt("directory block " + std::to_string(index) + at_nid(dir.nid) +
                   " lies past the metadata");
  }
  uint64_t start = (uint64_t{dir.start_block} + index) * kBlockSize;
  uint64_t length = std::min<uint64_t>(kBlockSize, dir.size - index * kBlockSize);
  if (metadata_.size() - start < length) {
    return corrupt("directory block " + std::to_string(index) + at_nid(dir.nid) +
                   " lies past the metadata");
  }
  return metadata_.subspan(start, length);
}

// The kernel's rules: the first nameoff gives the dirent count, names follow the array in
// order, and the last name ends at a NUL or at the end of the block.
Result<std::vector<DirectoryEntry>> MetadataReader::parse_block(const InodeInfo& dir,
                                                                uint64_t index) const {
  SHOAL_ASSIGN(std::span<const uint8_t> block, directory_block(dir, index));
  std::string where = "directory block " + std::to_string(index) + at_nid(dir.nid);
  if (block.size() < sizeof(Dirent)) return corrupt(where + " is shorter than one dirent");
  size_t names_start = load<Dirent>(block.data()).nameoff;
  if (names_start < sizeof(Dirent) || names_start % sizeof(Dirent) != 0 ||
      names_start >= block.size()) {
    return corrupt(where + ": bad first nameoff " + std::to_string(names_start));
  }
  size_t count = names_start / sizeof(Dirent);
  std::vector<DirectoryEntry> entries;
  entries.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    auto dirent = load<Dirent>(block.data() + i * sizeof(Dirent));
    size_t begin = dirent.nameoff;
    size_t end = block.size();
    if (i + 1 < count) {
      end = load<Dirent>(block.data() + (i + 1) * sizeof(Dirent)).nameoff;
    } else if (begin < end) {
      auto* nul = std::find(block.data() + begin, block.data() + end, 0);
      end = static_cast<size_t>(nul - block.data());
    }
    if (begin < names_start || end <= begin || end > block.size() ||
        end - begin > kMaxNameLength) {
      return corrupt(where + ": bad name bounds of entry " + std::to_string(i));
    }
    std::string_view name(reinterpret_cast<const char*>(block.data()) + begin, end - begin);
    // A name with '/' or NUL could never be looked up, and would show as a path elsewhere.
    if (name != "." && name != "..") {
      if (std::string_view reason = invalid_name_reason(name); !reason.empty())
        return corrupt(where + ": entry " + std::to_string(i) + ": " + std::string(reason));
    }
    entries.push_back({name, dirent.nid, dirent.file_type});
  }
  return entries;
}

Result<std::vector<DirectoryEntry>> MetadataReader::list(const InodeInfo& directory) const {
  if (!directory.is_directory()) return corrupt("inode" + at_nid(directory.nid) + " is no dir");
  std::vector<DirectoryEntry> all;
  uint64_t blocks = blocks_of(directory.size);
  for (uint64_t b = 0; b < blocks; ++b) {
    SHOAL_ASSIGN(std::vector<DirectoryEntry> entries, parse_block(directory, b));
    for (const DirectoryEntry& e : entries) {
      if (!all.empty() && !name_less(all.back().name, e.name)) {
        return corrupt("directory" + at_nid(directory.nid) + ": '" + std::string(e.name) +
                       "' is out of EROFS order");
      }
      all.push_back(e);
    }
  }
  return all;
}

Result<InodeInfo> MetadataReader::find_in(const InodeInfo& dir, std::string_view name) const {
  uint64_t blocks = blocks_of(dir.size);
  // The last block whose first name is <= name holds it, if any does.
  uint64_t low = 0, high = blocks;
  while (high - low > 1) {
    uint64_t mid = low + (high - low) / 2;
    SHOAL_ASSIGN(std::vector<DirectoryEntry> entries, parse_block(dir, mid));
    (name_less(name, entries.front().name) ? high : low) = mid;
  }
  if (blocks > 0) {
    SHOAL_ASSIGN(std::vector<DirectoryEntry> entries, parse_block(dir, low));
    auto it = std::lower_bound(entries.begin(), entries.end(), name,
                               [](const DirectoryEntry& e, std::string_view n) {
                                 return name_less(e.name, n);
                               });
    if (it != entries.end() && it->name == name) return inode(it->nid);
  }
  return Error(ErrorKind::kNotFound, "'" + std::string(name) + "' not found" + at_nid(dir.nid));
}

Result<InodeInfo> MetadataReader::lookup(std::string_view path) const {
  SHOAL_ASSIGN(InodeInfo current, inode(root_nid()));
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view name = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (name.empty()) continue;
    if (!current.is_directory()) {
      return Error(ErrorKind::kNotFound, "'" + std::string(name) + "': parent is not a dir");
    }
    SHOAL_ASSIGN(current, find_in(current, name));
  }
  return current;
}

}  // namespace shoal::index::erofs
