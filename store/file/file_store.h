// file:// — a local directory tree as a bucket (semantics in file_tree.h). Each operation
// runs as posted work on the reactor, so its Done callback never runs inside the call. The
// work itself is ordinary blocking file I/O, done on the reactor's thread.
#pragma once

#include <memory>
#include <string>

#include "store/file/file_tree.h"
#include "store/object_store.h"

namespace shoal {

class FileStore final : public ObjectStore {
 public:
  // Keys are paths below `root`; file:// URIs use root "/" (see ObjectUri).
  FileStore(std::string root, Reactor& reactor);

  Capabilities capabilities() const override;
  std::string describe() const override;

  void list(ListQuery query, Done<ListPage> done) override;
  void head(std::string key, Done<ObjectInfo> done) override;
  void get(GetQuery query, Done<GetReply> done) override;
  void put(std::string key, Body body, Done<PutReply> done) override;
  void remove(std::string key, Done<void> done) override;

  void create_multipart(std::string key, Done<std::string> done) override;
  void upload_part(std::string key, std::string upload_id, int number, Body body,
                   Done<PartInfo> done) override;
  void complete_multipart(std::string key, std::string upload_id, std::vector<PartInfo> parts,
                          Done<PutReply> done) override;
  void abort_multipart(std::string key, std::string upload_id, Done<void> done) override;
  void list_parts(std::string key, std::string upload_id,
                  Done<std::vector<PartInfo>> done) override;

  void append(std::string key, uint64_t position, Body body, Done<PutReply> done) override;

 private:
  template <class T, class Work>
  void later(Done<T> done, Work work);

  // Shared with posted work, so work still queued when the store goes away stays valid.
  std::shared_ptr<const file::FileTree> tree_;
  Reactor& reactor_;
};

}  // namespace shoal
