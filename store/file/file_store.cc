#include "store/file/file_store.h"

namespace shoal {

FileStore::FileStore(std::string root, Reactor& reactor)
    : tree_(std::make_shared<const file::FileTree>(std::move(root))), reactor_(reactor) {}

template <class T, class Work>
void FileStore::later(Done<T> done, Work work) {
  reactor_.post([tree = tree_, done = std::move(done), work = std::move(work)] {
    done(work(*tree));
  });
}

Capabilities FileStore::capabilities() const { return file::FileTree::capabilities(); }

std::string FileStore::describe() const {
  return "file:// at " + (tree_->root().empty() ? std::string("/") : tree_->root());
}

void FileStore::list(ListQuery query, Done<ListPage> done) {
  later(std::move(done), [q = std::move(query)](const file::FileTree& t) { return t.list(q); });
}

void FileStore::head(std::string key, Done<ObjectInfo> done) {
  later(std::move(done), [k = std::move(key)](const file::FileTree& t) { return t.head(k); });
}

void FileStore::get(GetQuery query, Done<GetReply> done) {
  later(std::move(done), [q = std::move(query)](const file::FileTree& t) { return t.get(q); });
}

void FileStore::put(std::string key, Body body, Done<PutReply> done) {
  later(std::move(done), [k = std::move(key), b = std::move(body)](const file::FileTree& t) {
    return t.put(k, b);
  });
}

void FileStore::remove(std::string key, Done<void> done) {
  later(std::move(done), [k = std::move(key)](const file::FileTree& t) { return t.remove(k); });
}

void FileStore::create_multipart(std::string key, Done<std::string> done) {
  later(std::move(done),
        [k = std::move(key)](const file::FileTree& t) { return t.create_multipart(k); });
}

void FileStore::upload_part(std::string key, std::string upload_id, int number, Body body,
                            Done<PartInfo> done) {
  later(std::move(done), [k = std::move(key), id = std::move(upload_id), number,
                          b = std::move(body)](const file::FileTree& t) {
    return t.upload_part(k, id, number, b);
  });
}

void FileStore::complete_multipart(std::string key, std::string upload_id,
                                   std::vector<PartInfo> parts, Done<PutReply> done) {
  later(std::move(done), [k = std::move(key), id = std::move(upload_id),
                          p = std::move(parts)](const file::FileTree& t) {
    return t.complete_multipart(k, id, p);
  });
}

void FileStore::abort_multipart(std::string key, std::string upload_id, Done<void> done) {
  later(std::move(done), [k = std::move(key), id = std::move(upload_id)](const file::FileTree& t) {
    return t.abort_multipart(k, id);
  });
}

void FileStore::list_parts(std::string key, std::string upload_id,
                           Done<std::vector<PartInfo>> done) {
  later(std::move(done), [k = std::move(key), id = std::move(upload_id)](const file::FileTree& t) {
    return t.list_parts(k, id);
  });
}

void FileStore::append(std::string key, uint64_t position, Body body, Done<PutReply> done) {
  later(std::move(done), [k = std::move(key), position,
                          b = std::move(body)](const file::FileTree& t) {
    return t.append(k, position, b);
  });
}

}  // namespace shoal
