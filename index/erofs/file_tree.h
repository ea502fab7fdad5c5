// The directory tree an EROFS image is written from, stored flat for tens of millions of
// entries: one 24-byte record per entry, every name in one arena, and (once sealed) each
// directory's children as a contiguous, name-sorted run of ids. No per-entry heap node, no
// full paths.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace shoal::index::erofs {

using NodeId = uint32_t;
inline constexpr NodeId kRootNode = 0;

struct Timestamp {
  int64_t seconds = 0;
  uint32_t nanoseconds = 0;
};

// EROFS orders names by unsigned bytes, a shorter name before any name it prefixes.
bool name_less(std::string_view a, std::string_view b);

// Why `name` cannot be an EROFS directory entry (empty, ".", "..", over 255 bytes, or holding
// '/' or NUL), or an empty string when it can.
std::string_view invalid_name_reason(std::string_view name);

class FileTree {
 public:
  static constexpr uint16_t kDefaultDirectoryPermissions = 0755;
  static constexpr uint16_t kDefaultFilePermissions = 0644;

  FileTree();  // holds the root directory, kRootNode

  // Avoids regrowing (and briefly doubling) the arrays when the entry count is known.
  void reserve(size_t entries, size_t name_bytes);

  // Entries may be added in any order; names are validated here, duplicates in seal().
  Result<NodeId> add_directory(NodeId parent, std::string_view name);
  Result<NodeId> add_file(NodeId parent, std::string_view name, uint64_t size);

  void set_permissions(NodeId node, uint16_t permissions);  // the 07777 bits of i_mode
  void set_mtime(NodeId node, Timestamp mtime);             // kept by ImageOptions::keep_mtime
  // First block of a regular file's data on the device (unused for empty files).
  void set_data_block(NodeId file, uint32_t block);

  // Sorts every directory's children in EROFS name order and refuses duplicate names.
  // Required before children(), find_child(), visit_depth_first() and writing an image;
  // adding entries afterwards unseals the tree.
  Status seal();
  bool sealed() const { return sealed_; }

  size_t size() const { return nodes_.size(); }
  bool is_directory(NodeId node) const;
  std::string_view name(NodeId node) const;
  NodeId parent(NodeId node) const { return nodes_[node].parent; }
  uint64_t file_size(NodeId file) const { return nodes_[file].size; }
  uint32_t data_block(NodeId file) const { return nodes_[file].data_block; }
  uint16_t mode(NodeId node) const { return nodes_[node].mode; }  // type and permission bits
  std::optional<Timestamp> mtime(NodeId node) const;
  // "/a/b/c" (root: "/"), built on demand for messages; nothing stores paths.
  std::string path(NodeId node) const;

  std::span<const NodeId> children(NodeId directory) const;
  std::optional<NodeId> find_child(NodeId directory, std::string_view name) const;

  // Calls visit(node) for every entry in depth-first, name-sorted pre-order: a directory, then
  // each child in name order with its whole subtree. This is the order of the inodes and of
  // the file data on the device.
  template <class Visit>
  void visit_depth_first(Visit&& visit) const;

 private:
  struct Node {
    uint64_t size;         // regular files only
    uint32_t name_offset;  // into names_
    NodeId parent;
    uint32_t data_block;   // regular files only
    uint16_t mode;
    uint8_t name_length;
    uint8_t has_mtime;
  };
  static_assert(sizeof(Node) == 24);

  Result<NodeId> add_node(NodeId parent, std::string_view name, uint16_t mode, uint64_t size);
  void group_children_by_parent();
  Status sort_children_and_find_duplicates();

  std::vector<Node> nodes_;
  std::vector<char> names_;
  std::vector<Timestamp> mtimes_;      // empty until the first set_mtime, then one per node
  std::vector<NodeId> child_ids_;      // children grouped by parent, name-sorted (when sealed)
  std::vector<uint32_t> child_begin_;  // child_ids_[child_begin_[n] .. child_begin_[n + 1])
  bool sealed_ = false;
};

template <class Visit>
void FileTree::visit_depth_first(Visit&& visit) const {
  struct Frame {
    NodeId directory;
    uint32_t next;  // index into child_ids_
  };
  std::vector<Frame> stack;
  visit(kRootNode);
  stack.push_back({kRootNode, child_begin_[kRootNode]});
  while (!stack.empty()) {
    Frame& top = stack.back();
    if (top.next == child_begin_[top.directory + 1]) {
      stack.pop_back();
      continue;
    }
    NodeId child = child_ids_[top.next++];
    visit(child);
    if (is_directory(child)) stack.push_back({child, child_begin_[child]});
  }
}

}  // namespace shoal::index::erofs
