#include "index/erofs/image_writer.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>

#include "index/erofs/format.h"

namespace shoal::index::erofs {
namespace {

// The inode table starts right after the super block, inside block 0 (meta_blkaddr 0), as
// mkfs.erofs does: the root inode gets nid 36.
constexpr uint64_t kInodeTableStart = kSuperBlockOffset + sizeof(SuperBlock);

uint64_t blocks_for(uint64_t bytes) { return (bytes + kBlockSize - 1) / kBlockSize; }

std::string tib(uint64_t blocks) {
  return std::to_string(blocks * kBlockSize / (1ull << 40)) + " TiB";
}

Error past_block_cap(std::string_view what, uint64_t blocks) {
  return Error(ErrorKind::kInvalidArgument,
               std::string(what) + " needs " + std::to_string(blocks) + " blocks of 4096 bytes (" +
                   tib(blocks) + "), past EROFS's 32-bit block addresses: at most " +
                   std::to_string(kMaxDeviceBlocks) + " blocks (16 TiB); split the volume");
}

// Calls emit(name, target) for a directory's entries in EROFS order: its children, with "."
// (the directory) and ".." (its parent; the root's own) merged in at their sorted places.
template <class Emit>
void for_each_dirent(const FileTree& tree, NodeId dir, Emit&& emit) {
  struct Dot {
    std::string_view name;
    NodeId target;
  };
  const Dot dots[] = {{".", dir}, {"..", tree.parent(dir)}};
  size_t next_dot = 0;
  for (NodeId child : tree.children(dir)) {
    std::string_view name = tree.name(child);
    for (; next_dot < 2 && name_less(dots[next_dot].name, name); ++next_dot) {
      emit(dots[next_dot].name, dots[next_dot].target);
    }
    emit(name, child);
  }
  for (; next_dot < 2; ++next_dot) emit(dots[next_dot].name, dots[next_dot].target);
}

// Dirents never straddle blocks: an entry that does not fit starts the next block.
class DirentPacker {
 public:
  // True when the entry starts a new block (the previous one is complete).
  bool add(size_t name_length) {
    size_t need = sizeof(Dirent) + name_length;
    bool new_block = used_ + need > kBlockSize;
    if (new_block) {
      ++full_blocks_;
      used_ = 0;
    }
    used_ += need;
    return new_block;
  }
  uint64_t size() const { return full_blocks_ * kBlockSize + used_; }

 private:
  uint64_t full_blocks_ = 0;
  size_t used_ = 0;
};

struct InodeFields {
  uint16_t mode;
  uint64_t size;
  uint32_t nlink;
  uint32_t start_block;
  uint32_t ino;
  Timestamp mtime;
};

void encode_compact_inode(const InodeFields& f, uint8_t* out) {
  CompactInode inode{};
  inode.i_format = inode_format(kInodeLayoutCompact, kDataLayoutFlatPlain);
  inode.i_mode = f.mode;
  inode.i_nlink = static_cast<uint16_t>(f.nlink);
  inode.i_size = static_cast<uint32_t>(f.size);
  inode.i_startblk_lo = f.start_block;
  inode.i_ino = f.ino;
  std::memcpy(out, &inode, sizeof(inode));
}

void encode_extended_inode(const InodeFields& f, uint8_t* out) {
  ExtendedInode inode{};
  inode.i_format = inode_format(kInodeLayoutExtended, kDataLayoutFlatPlain);
  inode.i_mode = f.mode;
  inode.i_size = f.size;
  inode.i_startblk_lo = f.start_block;
  inode.i_ino = f.ino;
  inode.i_mtime = static_cast<uint64_t>(f.mtime.seconds);
  inode.i_mtime_nsec = f.mtime.nanoseconds;
  inode.i_nlink = f.nlink;
  std::memcpy(out, &inode, sizeof(inode));
}

SuperBlock make_super_block(const ImageOptions& options, uint64_t inodes, uint32_t root_nid,
                            uint32_t device_blocks) {
  SuperBlock sb{};
  sb.magic = kMagic;
  sb.feature_compat = kFeatureCompatSuperBlockChecksum;
  sb.blkszbits = kBlockSizeBits;
  sb.root_nid = static_cast<uint16_t>(root_nid);
  sb.inos = inodes;
  sb.epoch = static_cast<uint64_t>(options.build_time.seconds);
  sb.fixed_nsec = options.build_time.nanoseconds;
  sb.blocks = device_blocks;
  std::memcpy(sb.uuid, options.uuid.data(), sizeof(sb.uuid));
  std::memcpy(sb.volume_name, options.volume_name.data(), options.volume_name.size());
  return sb;
}

}  // namespace

// Feeds the sink one block at a time from a reusable zeroed buffer.
class ImageWriter::BlockEmitter {
 public:
  explicit BlockEmitter(const BlockSink& sink) : sink_(sink), block_(kBlockSize, 0) {}
  uint8_t* data() { return block_.data(); }
  uint64_t emitted() const { return emitted_; }
  Status emit() {
    SHOAL_TRY(sink_(block_));
    std::fill(block_.begin(), block_.end(), 0);
    ++emitted_;
    return {};
  }

 private:
  const BlockSink& sink_;
  std::vector<uint8_t> block_;
  uint64_t emitted_ = 0;
};

// Writes the super block and inodes into blocks [0, inode table end).
class ImageWriter::InodeTableWriter {
 public:
  InodeTableWriter(BlockEmitter& out, const SuperBlock& sb) : out_(out) {
    std::memcpy(out_.data() + kSuperBlockOffset, &sb, sizeof(sb));
  }

  Status put(uint64_t nid, bool extended, const InodeFields& fields) {
    uint64_t offset = nid * kInodeSlotSize;
    while (out_.emitted() < offset / kBlockSize) SHOAL_TRY(flush());
    uint8_t* at = out_.data() + offset % kBlockSize;
    extended ? encode_extended_inode(fields, at) : encode_compact_inode(fields, at);
    return {};
  }

  Status finish(uint64_t table_end) {
    while (out_.emitted() < blocks_for(table_end)) SHOAL_TRY(flush());
    return {};
  }

 private:
  Status flush() {
    if (out_.emitted() == 0) {
      auto block = std::span<const uint8_t, kBlockSize>(out_.data(), kBlockSize);
      uint32_t checksum = super_block_checksum(block);
      std::memcpy(out_.data() + kSuperBlockOffset + offsetof(SuperBlock, checksum), &checksum,
                  sizeof(checksum));
    }
    return out_.emit();
  }

  BlockEmitter& out_;
};

// Writes one directory's dirent blocks: collects the entries of a block, then lays out the
// dirent array followed by the names.
class ImageWriter::DirectoryBlockWriter {
 public:
  explicit DirectoryBlockWriter(BlockEmitter& out) : out_(out) {}

  Status add(std::string_view name, uint64_t nid, uint8_t file_type) {
    if (packer_.add(name.size())) SHOAL_TRY(flush());
    pending_.push_back({name, nid, file_type});
    return {};
  }

  Status finish() {
    SHOAL_TRY(flush());
    packer_ = DirentPacker();
    return {};
  }

 private:
  struct Entry {
    std::string_view name;
    uint64_t nid;
    uint8_t file_type;
  };

  Status flush() {
    uint8_t* block = out_.data();
    size_t name_offset = pending_.size() * sizeof(Dirent);
    for (size_t i = 0; i < pending_.size(); ++i) {
      const Entry& e = pending_[i];
      Dirent dirent{e.nid, static_cast<uint16_t>(name_offset), e.file_type, 0};
      std::memcpy(block + i * sizeof(Dirent), &dirent, sizeof(dirent));
      std::memcpy(block + name_offset, e.name.data(), e.name.size());
      name_offset += e.name.size();
    }
    pending_.clear();
    return out_.emit();
  }

  BlockEmitter& out_;
  DirentPacker packer_;
  std::vector<Entry> pending_;
};

Result<ImageWriter> ImageWriter::plan(const FileTree& tree, const ImageOptions& options) {
  if (!tree.sealed()) {
    return Error(ErrorKind::kInvalidArgument, "the file tree must be sealed before planning");
  }
  if (options.volume_name.size() > sizeof(SuperBlock::volume_name)) {
    return Error(ErrorKind::kInvalidArgument,
                 "volume name '" + options.volume_name + "' is longer than 16 bytes");
  }
  ImageWriter writer(options);
  SHOAL_TRY(writer.assign_nids(tree));
  SHOAL_TRY(writer.assign_directory_blocks());
  return writer;
}

bool ImageWriter::needs_extended_inode(const FileTree& tree, NodeId node, uint64_t size,
                                       uint32_t nlink) const {
  bool own_mtime = options_.keep_mtime && tree.mtime(node).has_value();
  return size > std::numeric_limits<uint32_t>::max() ||
         nlink > std::numeric_limits<uint16_t>::max() || own_mtime;
}

bool ImageWriter::has_extended_inode(NodeId node) const { return extended_[node]; }

// One depth-first pass: sizes each directory and gives every inode its 32-byte slot(s).
// Extended inodes sit on 64-byte boundaries so that none straddles a block.
Status ImageWriter::assign_nids(const FileTree& tree) {
  nids_.assign(tree.size(), 0);
  extended_.assign(tree.size(), false);
  uint64_t position = kInodeTableStart;
  constexpr uint64_t kMaxNid = std::numeric_limits<uint32_t>::max();
  tree.visit_depth_first([&](NodeId node) {
    uint64_t size = tree.file_size(node);
    uint32_t nlink = 1;
    if (tree.is_directory(node)) {
      DirentPacker packer;
      for_each_dirent(tree, node, [&](std::string_view name, NodeId) { packer.add(name.size()); });
      size = packer.size();
      std::span<const NodeId> children = tree.children(node);
      nlink = 2 + static_cast<uint32_t>(std::count_if(
                      children.begin(), children.end(),
                      [&tree](NodeId child) { return tree.is_directory(child); }));
      directories_.push_back({size, 0, nlink});
    }
    bool extended = needs_extended_inode(tree, node, size, nlink);
    if (extended && position % sizeof(ExtendedInode) != 0) position += kInodeSlotSize;
    // Past the cap nids saturate; the check below refuses the image.
    nids_[node] = static_cast<uint32_t>(std::min(position / kInodeSlotSize, kMaxNid));
    extended_[node] = extended;
    position += extended ? sizeof(ExtendedInode) : sizeof(CompactInode);
  });
  inode_table_end_ = position;
  if (position / kInodeSlotSize > kMaxNid) {
    return Error(ErrorKind::kInvalidArgument,
                 "the inode table needs " + std::to_string(position) +
                     " bytes, past the 128 GiB that 32-bit nids address");
  }
  return {};
}

// Directory blocks follow the inode table, in the same depth-first order.
Status ImageWriter::assign_directory_blocks() {
  uint64_t next = blocks_for(inode_table_end_);
  for (DirectoryPlan& dir : directories_) {
    if (next > kMaxDeviceBlocks) break;
    dir.first_block = static_cast<uint32_t>(next);
    next += blocks_for(dir.size);
  }
  if (next > kMaxDeviceBlocks) return past_block_cap("the metadata region", next);
  metadata_blocks_ = static_cast<uint32_t>(next);
  return {};
}

Status ImageWriter::check_tree(const FileTree& tree) const {
  if (!tree.sealed() || tree.size() != nids_.size()) {
    return Error(ErrorKind::kInvalidArgument,
                 "the file tree changed since the image was planned; plan it again");
  }
  return {};
}

Result<uint32_t> ImageWriter::device_blocks(const FileTree& tree) const {
  SHOAL_TRY(check_tree(tree));
  uint64_t end = metadata_blocks_;
  for (NodeId node = 0; node < tree.size(); ++node) {
    if (tree.is_directory(node) || tree.file_size(node) == 0) continue;
    uint64_t first = tree.data_block(node);
    if (first < metadata_blocks_) {
      return Error(ErrorKind::kInvalidArgument,
                   "file " + tree.path(node) + ": data block " + std::to_string(first) +
                       " lies inside the metadata region (blocks 0.." +
                       std::to_string(metadata_blocks_ - 1) + ")");
    }
    end = std::max(end, first + blocks_for(tree.file_size(node)));
  }
  if (end > kMaxDeviceBlocks) return past_block_cap("the device", end);
  return static_cast<uint32_t>(end);
}

Status ImageWriter::write(const FileTree& tree, const BlockSink& sink) const {
  SHOAL_ASSIGN(uint32_t total_blocks, device_blocks(tree));
  BlockEmitter out(sink);
  SHOAL_TRY(write_inode_table(tree, total_blocks, out));
  SHOAL_TRY(write_directories(tree, out));
  if (out.emitted() != metadata_blocks_) {
    return Error(ErrorKind::kInternal, "wrote " + std::to_string(out.emitted()) +
                                           " metadata blocks, planned " +
                                           std::to_string(metadata_blocks_));
  }
  return {};
}

Status ImageWriter::write_inode_table(const FileTree& tree, uint32_t device_blocks,
                                      BlockEmitter& out) const {
  SuperBlock sb = make_super_block(options_, tree.size(), nids_[kRootNode], device_blocks);
  InodeTableWriter inodes(out, sb);
  Status status;
  size_t directory = 0;
  uint32_t ino = 0;
  tree.visit_depth_first([&](NodeId node) {
    if (!status.ok()) return;
    InodeFields fields{tree.mode(node), tree.file_size(node), 1, tree.data_block(node), ++ino,
                       options_.build_time};
    if (options_.keep_mtime && tree.mtime(node)) fields.mtime = *tree.mtime(node);
    if (tree.is_directory(node)) {
      const DirectoryPlan& dir = directories_[directory++];
      fields.size = dir.size;
      fields.nlink = dir.nlink;
      fields.start_block = dir.first_block;
    } else if (fields.size == 0) {
      fields.start_block = 0;  // an empty file maps no block
    }
    status = inodes.put(nids_[node], extended_[node], fields);
  });
  SHOAL_TRY(status);
  return inodes.finish(inode_table_end_);
}

Status ImageWriter::write_directories(const FileTree& tree, BlockEmitter& out) const {
  DirectoryBlockWriter dirents(out);
  Status status;
  tree.visit_depth_first([&](NodeId node) {
    if (!status.ok() || !tree.is_directory(node)) return;
    for_each_dirent(tree, node, [&](std::string_view name, NodeId target) {
      if (!status.ok()) return;
      uint8_t type = tree.is_directory(target) ? kFileTypeDirectory : kFileTypeRegular;
      status = dirents.add(name, nids_[target], type);
    });
    if (status.ok()) status = dirents.finish();
  });
  return status;
}

Result<std::vector<uint8_t>> ImageWriter::write_to_memory(const FileTree& tree) const {
  std::vector<uint8_t> image;
  image.reserve(static_cast<size_t>(metadata_blocks_) * kBlockSize);
  SHOAL_TRY(write(tree, [&image](std::span<const uint8_t> block) -> Status {
    image.insert(image.end(), block.begin(), block.end());
    return {};
  }));
  return image;
}

Result<uint32_t> assign_data_blocks_contiguously(FileTree& tree, uint32_t first_block) {
  uint64_t next = first_block;
  std::optional<NodeId> overflowing;
  tree.visit_depth_first([&](NodeId node) {
    if (overflowing || tree.is_directory(node) || tree.file_size(node) == 0) return;
    uint64_t end = next + blocks_for(tree.file_size(node));
    if (end > kMaxDeviceBlocks) {
      overflowing = node;
      return;
    }
    tree.set_data_block(node, static_cast<uint32_t>(next));
    next = end;
  });
  if (overflowing) {
    return past_block_cap("placing file " + tree.path(*overflowing),
                          next + blocks_for(tree.file_size(*overflowing)));
  }
  return static_cast<uint32_t>(next);
}

}  // namespace shoal::index::erofs
