// Writes the metadata region of an EROFS image for a FileTree: block 0 with the super block,
// the inode table, then every directory's dirent blocks. File data is not written here: each
// regular file is a flat-plain extent at the block the caller assigned (set_data_block), in
// the data region that follows the metadata. Device = [metadata blocks][data region].
//
// Usage:
//   FileTree tree; ... add entries ...; SHOAL_TRY(tree.seal());
//   SHOAL_ASSIGN(ImageWriter writer, ImageWriter::plan(tree, options));
//   SHOAL_ASSIGN(uint32_t device_blocks,
//                assign_data_blocks_contiguously(tree, writer.metadata_blocks()));
//   SHOAL_TRY(writer.write(tree, sink));  // metadata_blocks() blocks of 4096 bytes, in order
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "index/erofs/file_tree.h"

namespace shoal::index::erofs {

struct ImageOptions {
  // Give every entry that has an mtime an extended inode carrying it; otherwise all entries
  // share build_time (compact inodes have no mtime of their own on older kernels).
  bool keep_mtime = false;
  Timestamp build_time;
  std::array<uint8_t, 16> uuid{};
  std::string volume_name;  // at most 16 bytes
};

// Receives the metadata region one 4096-byte block at a time, in device order.
using BlockSink = std::function<Status(std::span<const uint8_t> block)>;

class ImageWriter {
 public:
  // Lays out the metadata of a sealed tree: inode slots (nids) in depth-first order, then the
  // directory blocks. Depends only on the tree's shape and names, not on data blocks, so data
  // can be placed after metadata_blocks() once this returns.
  static Result<ImageWriter> plan(const FileTree& tree, const ImageOptions& options);

  uint32_t metadata_blocks() const { return metadata_blocks_; }
  uint64_t nid(NodeId node) const { return nids_[node]; }
  uint64_t root_nid() const { return nids_[kRootNode]; }
  bool has_extended_inode(NodeId node) const;

  // Metadata blocks plus the end of the furthest file extent. Fails if a non-empty file's
  // data starts inside the metadata or the device passes the 32-bit block cap (16 TiB).
  Result<uint32_t> device_blocks(const FileTree& tree) const;

  // Emits exactly metadata_blocks() blocks. The tree must be the one planned (data blocks may
  // have changed since, nothing else).
  Status write(const FileTree& tree, const BlockSink& sink) const;
  Result<std::vector<uint8_t>> write_to_memory(const FileTree& tree) const;

 private:
  struct DirectoryPlan {
    uint64_t size;         // bytes of dirent blocks; the last block is partially used
    uint32_t first_block;
    uint32_t nlink;        // 2 + subdirectories
  };
  class BlockEmitter;
  class InodeTableWriter;
  class DirectoryBlockWriter;

  explicit ImageWriter(const ImageOptions& options) : options_(options) {}
  Status assign_nids(const FileTree& tree);
  Status assign_directory_blocks();
  Status check_tree(const FileTree& tree) const;
  Status write_inode_table(const FileTree& tree, uint32_t device_blocks, BlockEmitter& out) const;
  Status write_directories(const FileTree& tree, BlockEmitter& out) const;
  bool needs_extended_inode(const FileTree& tree, NodeId node, uint64_t size,
                            uint32_t nlink) const;

  ImageOptions options_;
  std::vector<uint32_t> nids_;               // per node
  std::vector<bool> extended_;               // per node: a 64-byte inode
  std::vector<DirectoryPlan> directories_;   // per directory, in depth-first order
  uint64_t inode_table_end_ = 0;             // byte offset after the last inode
  uint32_t metadata_blocks_ = 0;
};

// Places every non-empty regular file in depth-first name order, each on ceil(size / 4096)
// blocks, starting at first_block. Returns the device size in blocks (the end of the last
// extent), or an error naming the file that would pass the 16 TiB cap.
Result<uint32_t> assign_data_blocks_contiguously(FileTree& tree, uint32_t first_block);

}  // namespace shoal::index::erofs
