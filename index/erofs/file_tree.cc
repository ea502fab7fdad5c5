#include "index/erofs/file_tree.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "index/erofs/format.h"

namespace shoal::index::erofs {
namespace {

// Ids and name offsets are 32-bit to keep a node at 24 bytes; these are the resulting caps.
constexpr size_t kMaxNodes = std::numeric_limits<uint32_t>::max() - 1;
constexpr size_t kMaxNameBytes = std::numeric_limits<uint32_t>::max();

}  // namespace

bool name_less(std::string_view a, std::string_view b) {
  size_t common = std::min(a.size(), b.size());
  int order = common == 0 ? 0 : std::memcmp(a.data(), b.data(), common);  // unsigned bytes
  return order < 0 || (order == 0 && a.size() < b.size());
}

std::string_view invalid_name_reason(std::string_view name) {
  if (name.empty()) return "empty name";
  if (name == "." || name == "..") return "'.' and '..' are reserved";
  if (name.size() > kMaxNameLength) return "name longer than 255 bytes";
  if (name.find('/') != std::string_view::npos) return "name contains '/'";
  if (name.find('\0') != std::string_view::npos) return "name contains a NUL byte";
  return {};
}

FileTree::FileTree() {
  nodes_.push_back(Node{0, 0, kRootNode, 0, kModeDirectory | kDefaultDirectoryPermissions, 0, 0});
}

void FileTree::reserve(size_t entries, size_t name_bytes) {
  nodes_.reserve(entries);
  names_.reserve(name_bytes);
}

Result<NodeId> FileTree::add_directory(NodeId parent, std::string_view name) {
  return add_node(parent, name, kModeDirectory | kDefaultDirectoryPermissions, 0);
}

Result<NodeId> FileTree::add_file(NodeId parent, std::string_view name, uint64_t size) {
  return add_node(parent, name, kModeRegular | kDefaultFilePermissions, size);
}

Result<NodeId> FileTree::add_node(NodeId parent, std::string_view name, uint16_t mode,
                                  uint64_t size) {
  if (parent >= nodes_.size() || !is_directory(parent)) {
    return Error(ErrorKind::kInvalidArgument,
                 "adding '" + std::string(name) + "': parent " + std::to_string(parent) +
                     " is not a directory of this tree");
  }
  if (std::string_view reason = invalid_name_reason(name); !reason.empty()) {
    return Error(ErrorKind::kInvalidArgument,
                 "invalid EROFS name '" + std::string(name) + "': " + std::string(reason));
  }
  if (nodes_.size() >= kMaxNodes || names_.size() + name.size() > kMaxNameBytes) {
    return Error(ErrorKind::kNoSpace, "the tree is full: at most " + std::to_string(kMaxNodes) +
                                          " entries and 4 GiB of names");
  }
  auto id = static_cast<NodeId>(nodes_.size());
  nodes_.push_back(Node{size, static_cast<uint32_t>(names_.size()), parent, 0, mode,
                        static_cast<uint8_t>(name.size()), 0});
  names_.insert(names_.end(), name.begin(), name.end());
  if (!mtimes_.empty()) mtimes_.emplace_back();
  sealed_ = false;
  return id;
}

void FileTree::set_permissions(NodeId node, uint16_t permissions) {
  Node& n = nodes_[node];
  n.mode = static_cast<uint16_t>((n.mode & kModeTypeMask) | (permissions & 07777));
}

void FileTree::set_mtime(NodeId node, Timestamp mtime) {
  if (mtimes_.empty()) mtimes_.resize(nodes_.size());
  mtimes_[node] = mtime;
  nodes_[node].has_mtime = 1;
}

void FileTree::set_data_block(NodeId file, uint32_t block) { nodes_[file].data_block = block; }

bool FileTree::is_directory(NodeId node) const {
  return (nodes_[node].mode & kModeTypeMask) == kModeDirectory;
}

std::string_view FileTree::name(NodeId node) const {
  const Node& n = nodes_[node];
  return {names_.data() + n.name_offset, n.name_length};
}

std::optional<Timestamp> FileTree::mtime(NodeId node) const {
  if (!nodes_[node].has_mtime) return std::nullopt;
  return mtimes_[node];
}

std::string FileTree::path(NodeId node) const {
  std::vector<NodeId> chain;
  for (NodeId n = node; n != kRootNode; n = parent(n)) chain.push_back(n);
  if (chain.empty()) return "/";
  std::string out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) out.append("/").append(name(*it));
  return out;
}

std::span<const NodeId> FileTree::children(NodeId directory) const {
  return {child_ids_.data() + child_begin_[directory],
          child_begin_[directory + 1] - child_begin_[directory]};
}

std::optional<NodeId> FileTree::find_child(NodeId directory, std::string_view name) const {
  std::span<const NodeId> kids = children(directory);
  auto it = std::lower_bound(kids.begin(), kids.end(), name, [this](NodeId id, std::string_view n) {
    return name_less(this->name(id), n);
  });
  if (it == kids.end() || this->name(*it) != name) return std::nullopt;
  return *it;
}

Status FileTree::seal() {
  group_children_by_parent();
  SHOAL_TRY(sort_children_and_find_duplicates());
  sealed_ = true;
  return {};
}

// A counting sort by parent id: two passes, no per-directory allocation.
void FileTree::group_children_by_parent() {
  child_begin_.assign(nodes_.size() + 1, 0);
  for (NodeId id = 1; id < nodes_.size(); ++id) ++child_begin_[nodes_[id].parent + 1];
  for (size_t i = 1; i < child_begin_.size(); ++i) child_begin_[i] += child_begin_[i - 1];
  child_ids_.resize(nodes_.size() - 1);
  std::vector<uint32_t> cursor(child_begin_.begin(), child_begin_.end() - 1);
  for (NodeId id = 1; id < nodes_.size(); ++id) child_ids_[cursor[nodes_[id].parent]++] = id;
}

Status FileTree::sort_children_and_find_duplicates() {
  auto by_name = [this](NodeId a, NodeId b) { return name_less(name(a), name(b)); };
  for (NodeId dir = 0; dir < nodes_.size(); ++dir) {
    auto begin = child_ids_.begin() + child_begin_[dir];
    auto end = child_ids_.begin() + child_begin_[dir + 1];
    if (begin == end) continue;
    std::sort(begin, end, by_name);
    auto duplicate = std::adjacent_find(begin, end, [this](NodeId a, NodeId b) {
      return name(a) == name(b);
    });
    if (duplicate != end) {
      return Error(ErrorKind::kInvalidArgument,
                   "duplicate name '" + std::string(name(*duplicate)) + "' in directory " +
                       path(dir));
    }
  }
  return {};
}

}  // namespace shoal::index::erofs
