// FileTree::list: a depth-first walk that yields keys in S3's byte order. Within a
// directory, entries are sorted by name with '/' appended to directories — exactly the order
// of the keys they hold — so the walk never has to buffer or re-sort a subtree.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <variant>

#include "store/file/file_io.h"
#include "store/file/file_tree.h"

namespace shoal::file {
namespace {

constexpr int kMaxKeysCap = 1000;  // S3 returns at most 1,000 entries a page

using DirEntry = DirectoryCache::Entry;

// Follows symlinks; entries that are neither files nor directories are not objects.
std::optional<DirEntry> classify(const std::string& dir_path, const dirent& e) {
  std::string_view name = e.d_name;
  if (name == "." || name == ".." || is_reserved_name(name)) return std::nullopt;
  unsigned char type = e.d_type;
  if (type == DT_LNK || type == DT_UNKNOWN) {
    struct stat st {};
    if (::stat((dir_path + e.d_name).c_str(), &st) != 0) return std::nullopt;  // dangling link
    type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
  }
  if (type == DT_DIR) return DirEntry{std::string(name) + "/", true};
  if (type == DT_REG) return DirEntry{std::string(name), false};
  return std::nullopt;
}

Result<std::vector<DirEntry>> read_sorted_uncached(const std::string& dir_path) {
  DIR* d = ::opendir(dir_path.c_str());
  if (d == nullptr) return errno_error("list directory " + dir_path, errno);
  std::vector<DirEntry> entries;
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    if (auto entry = classify(dir_path, *e)) entries.push_back(std::move(*entry));
    errno = 0;
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return errno_error("list directory " + dir_path, err);
  std::sort(entries.begin(), entries.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return entries;
}

using Entry = std::variant<ObjectInfo, std::string>;  // an object or a common prefix

const std::string& entry_key(const Entry& e) {
  return e.index() == 0 ? std::get<0>(e).key : std::get<1>(e);
}

class Lister {
 public:
  Lister(DirectoryCache& cache, std::string prefix, std::string delimiter, std::string marker,
         size_t limit)
      : cache_(cache), prefix_(std::move(prefix)), delimiter_(std::move(delimiter)),
        marker_(std::move(marker)), limit_(limit) {}

  // Walks the directory at dir_path (ending in '/'), whose keys start with dir_key.
  Status descend(const std::string& dir_path, const std::string& dir_key) {
    struct stat st {};
    if (::stat(dir_path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return {};  // gone: empty
    auto id = std::make_pair(st.st_dev, st.st_ino);
    if (std::find(ancestors_.begin(), ancestors_.end(), id) != ancestors_.end()) return {};
    ancestors_.push_back(id);
    Status s = walk(dir_path, dir_key);
    ancestors_.pop_back();
    return s;
  }

  bool full() const { return entries_.size() >= limit_; }
  std::vector<Entry>& entries() { return entries_; }

 private:
  Status walk(const std::string& dir_path, const std::string& dir_key) {
    SHOAL_ASSIGN(DirectoryCache::Listing listing, cache_.sorted(dir_path));
    const std::vector<DirEntry>& children = *listing;
    for (size_t i = first_after_marker(children, dir_key); i < children.size(); ++i) {
      const DirEntry& child = children[i];
      if (full()) break;
      std::string key = dir_key + child.name;
      std::string path = dir_path + child.name;
      if (child.is_dir) {
        SHOAL_TRY(visit_dir(path, key));
      } else {
        visit_file(path, key);
      }
    }
    return {};
  }

  // The first child that can hold a key past the marker: children before it were listed on
  // earlier pages. A directory whose key the marker starts with is still open.
  size_t first_after_marker(const std::vector<DirEntry>& children, const std::string& dir_key) const {
    if (marker_.empty() || !marker_.starts_with(dir_key)) return 0;
    std::string_view rest = std::string_view(marker_).substr(dir_key.size());
    auto it = std::lower_bound(children.begin(), children.end(), rest,
                               [](const DirEntry& e, std::string_view r) { return e.name < r; });
    if (it != children.begin()) {
      const DirEntry& before = *std::prev(it);
      if (before.is_dir && rest.starts_with(before.name)) --it;
    }
    return static_cast<size_t>(it - children.begin());
  }

  void visit_file(const std::string& path, std::string key) {
    if (!key.starts_with(prefix_) || key <= marker_) return;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;  // deleted meanwhile
    size_t at = delimiter_.empty() ? std::string::npos : key.find(delimiter_, prefix_.size());
    if (at == std::string::npos) {
      entries_.emplace_back(info_from_stat(std::move(key), st));
      return;
    }
    emit_prefix(key.substr(0, at + delimiter_.size()));
  }

  Status visit_dir(const std::string& path, const std::string& key) {
    bool below_prefix = key.starts_with(prefix_);
    if (!below_prefix && !prefix_.starts_with(key)) return {};
    if (key <= marker_ && !marker_.starts_with(key)) return {};  // all of it was listed before
    if (delimiter_ == "/" && below_prefix && key.size() > prefix_.size()) {
      // The whole directory rolls up into one common prefix: check that it holds an object
      // (past the marker) instead of listing it.
      Lister probe(cache_, key, "", marker_, 1);
      SHOAL_TRY(probe.descend(path, key));
      if (!probe.entries_.empty()) emit_prefix(key);
      return {};
    }
    return descend(path, key);
  }

  void emit_prefix(std::string common) {
    if (common == marker_) return;  // ended the previous page
    if (!entries_.empty() && entries_.back().index() == 1 && std::get<1>(entries_.back()) == common)
      return;
    entries_.emplace_back(std::move(common));
  }

  DirectoryCache& cache_;
  std::string prefix_;
  std::string delimiter_;
  std::string marker_;
  size_t limit_;
  std::vector<Entry> entries_;
  std::vector<std::pair<dev_t, ino_t>> ancestors_;  // directories being walked: loop guard
};

ListPage to_page(std::vector<Entry>& entries, size_t max_keys) {
  ListPage page;
  if (entries.size() > max_keys) {
    entries.resize(max_keys);
    page.next_token = entry_key(entries.back());
  }
  for (Entry& e : entries) {
    if (e.index() == 0) page.objects.push_back(std::move(std::get<0>(e)));
    else page.common_prefixes.push_back(std::move(std::get<1>(e)));
  }
  return page;
}

}  // namespace

Result<DirectoryCache::Listing> DirectoryCache::sorted(const std::string& dir_path) {
  struct stat st {};
  if (::stat(dir_path.c_str(), &st) != 0) return errno_error("list directory " + dir_path, errno);
  auto same_time = [](const timespec& a, const timespec& b) {
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
  };
  {
    std::lock_guard lock(mutex_);
    for (auto it = slots_.begin(); it != slots_.end(); ++it) {
      if (it->path != dir_path || it->dev != st.st_dev || it->ino != st.st_ino ||
          !same_time(it->mtime, st.st_mtim) || !same_time(it->ctime, st.st_ctim))
        continue;
      slots_.splice(slots_.begin(), slots_, it);
      return slots_.front().listing;
    }
  }
  SHOAL_ASSIGN(std::vector<DirEntry> entries, read_sorted_uncached(dir_path));
  auto listing = std::make_shared<const std::vector<DirEntry>>(std::move(entries));
  std::lock_guard lock(mutex_);
  slots_.push_front(Slot{dir_path, st.st_dev, st.st_ino, st.st_mtim, st.st_ctim, listing});
  if (slots_.size() > kSlots) slots_.pop_back();
  return listing;
}

Result<ListPage> FileTree::list(const ListQuery& q) const {
  if (q.max_keys < 1)
    return Error(ErrorKind::kInvalidArgument, "list: max_keys must be at least 1");
  size_t max_keys = static_cast<size_t>(std::min(q.max_keys, kMaxKeysCap));
  std::string dir_key = q.prefix.substr(0, q.prefix.rfind('/') + 1);
  // A prefix through an impossible path ("a//b") matches no key.
  if (!dir_key.empty() && !key_path_problem(dir_key.substr(0, dir_key.size() - 1)).empty())
    return ListPage{};
  std::string marker = q.continuation_token.empty() ? q.start_after : q.continuation_token;
  Lister lister(*directories_, q.prefix, q.delimiter, marker, max_keys + 1);
  Status walked = lister.descend(root_ + "/" + dir_key, dir_key);
  if (!walked.ok()) return std::move(walked).error().with_context("list " + q.prefix);
  return to_page(lister.entries(), max_keys);
}

}  // namespace shoal::file
