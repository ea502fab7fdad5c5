// The file:// backend's synchronous core: a local directory tree with S3 semantics.
//
// Keys are paths relative to the root, so a key maps to exactly one path:
// - keys with an empty segment ("a//b", "/a", "a/") or a "." / ".." segment have no path;
//   writes refuse them (kInvalidArgument), reads report them as absent (kNotFound);
// - directories are not objects: they appear only as common prefixes, and only when some
//   object lies below them (as in S3, an empty "directory" does not exist);
// - symlinks are followed, for files and directories alike; a directory already being walked
//   (a symlink loop) is skipped, and so is a dangling link;
// - a tree cannot hold both key "a" and keys under "a/" (a file is not a directory); such a
//   put fails with the file system's error;
// - ".shoal-multipart" (staged multipart parts) and ".shoal-tmp-*" (writes in progress) are
//   reserved in every directory: never listed, never valid in keys;
// - removing an object leaves its (maybe now empty) directories, which list as nothing.
// Listing order is S3's: byte order of full keys, which differs from a plain directory walk
// ("a-b" < "a/c" because '-' < '/'). Continuation tokens are the last key or common prefix
// returned. ETags: see file_io.h. Puts and multipart completions are atomic and fsynced;
// appends write in place and are fsynced.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "common/result.h"
#include "store/object_store.h"

namespace shoal::file {

// Sorted directory listings kept between the pages of one listing: without them every page
// of a 100,000-entry directory would read and sort the whole directory again. An entry is
// reused only while the directory's change time and mtime are unchanged.
class DirectoryCache {
 public:
  struct Entry {
    std::string name;  // with '/' appended for a directory
    bool is_dir = false;
  };
  using Listing = std::shared_ptr<const std::vector<Entry>>;

  Result<Listing> sorted(const std::string& dir_path);

 private:
  struct Slot {
    std::string path;
    dev_t dev;
    ino_t ino;
    timespec mtime, ctime;
    Listing listing;
  };
  static constexpr size_t kSlots = 8;
  std::mutex mutex_;
  std::list<Slot> slots_;  // most recently used first
};

class FileTree {
 public:
  // root: the directory key "" maps to; "/" for file:// URIs.
  explicit FileTree(std::string root);

  static Capabilities capabilities();
  const std::string& root() const { return root_; }

  Result<ListPage> list(const ListQuery& query) const;
  Result<ObjectInfo> head(const std::string& key) const;
  Result<GetReply> get(const GetQuery& query) const;
  Result<PutReply> put(const std::string& key, const Body& body) const;
  Status remove(const std::string& key) const;

  Result<std::string> create_multipart(const std::string& key) const;
  Result<PartInfo> upload_part(const std::string& key, const std::string& upload_id, int number,
                               const Body& body) const;
  Result<PutReply> complete_multipart(const std::string& key, const std::string& upload_id,
                                      const std::vector<PartInfo>& parts) const;
  Status abort_multipart(const std::string& key, const std::string& upload_id) const;
  Result<std::vector<PartInfo>> list_parts(const std::string& key,
                                           const std::string& upload_id) const;

  Result<PutReply> append(const std::string& key, uint64_t position, const Body& body) const;

 private:
  std::string path_of(const std::string& key) const;  // root_ + "/" + key
  Status check_writable_key(const std::string& key) const;
  Result<std::string> staging_dir(const std::string& key, const std::string& upload_id) const;
  Result<std::vector<PartInfo>> staged_parts(const std::string& dir) const;
  Status check_parts(const std::vector<PartInfo>& parts, const std::string& dir) const;

  std::string root_;  // without a trailing '/': "" for "/"
  std::unique_ptr<DirectoryCache> directories_ = std::make_unique<DirectoryCache>();
};

// Why `key` cannot name a file, or "" when it can.
std::string key_path_problem(std::string_view key);

}  // namespace shoal::file
