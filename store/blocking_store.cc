#include "store/blocking_store.h"

#include <memory>
#include <optional>

#include "store/open_store.h"

namespace shoal {

BlockingStore::BlockingStore(std::unique_ptr<PollReactor> reactor,
                             std::unique_ptr<ObjectStore> store)
    : reactor_(std::move(reactor)), store_(std::move(store)) {}

BlockingStore& BlockingStore::operator=(BlockingStore&& other) noexcept {
  store_.reset();  // before the reactor it runs on
  reactor_ = std::move(other.reactor_);
  store_ = std::move(other.store_);
  return *this;
}

Result<BlockingStore> BlockingStore::open(const ObjectUri& uri, const StoreConfig& config) {
  return wrap([&](Reactor& reactor) { return open_store(uri, config, reactor); });
}

Result<BlockingStore> BlockingStore::wrap(const StoreMaker& make) {
  auto reactor = std::make_unique<PollReactor>();
  SHOAL_ASSIGN(std::unique_ptr<ObjectStore> store, make(*reactor));
  return BlockingStore(std::move(reactor), std::move(store));
}

template <class T, class Start>
Result<T> BlockingStore::wait(Start start) {
  // Shared with the callback: a store that answers after we gave up (say, cancelling its
  // requests as it is destroyed) must not write into a dead stack frame.
  auto out = std::make_shared<std::optional<Result<T>>>();
  start([out](Result<T> r) { out->emplace(std::move(r)); });
  if (!reactor_->run_until([&out] { return out->has_value(); }))
    return Error(ErrorKind::kInternal,
                 store_->describe() + ": the store went idle without completing the operation");
  return std::move(**out);
}

Result<ListPage> BlockingStore::list(ListQuery query) {
  return wait<ListPage>([&](Done<ListPage> d) { store_->list(std::move(query), std::move(d)); });
}

Status BlockingStore::list_all(ListQuery query,
                               const std::function<Status(const ListPage&)>& on_page) {
  query.continuation_token.clear();
  while (true) {
    SHOAL_ASSIGN(ListPage page, list(query));
    SHOAL_TRY(on_page(page));
    if (page.next_token.empty()) return {};
    query.continuation_token = std::move(page.next_token);
  }
}

Result<ObjectInfo> BlockingStore::head(const std::string& key) {
  return wait<ObjectInfo>([&](Done<ObjectInfo> d) { store_->head(key, std::move(d)); });
}

Result<GetReply> BlockingStore::get(GetQuery query) {
  return wait<GetReply>([&](Done<GetReply> d) { store_->get(std::move(query), std::move(d)); });
}

Result<PutReply> BlockingStore::put(const std::string& key, Body body) {
  return wait<PutReply>(
      [&](Done<PutReply> d) { store_->put(key, std::move(body), std::move(d)); });
}

Status BlockingStore::remove(const std::string& key) {
  return wait<void>([&](Done<void> d) { store_->remove(key, std::move(d)); });
}

Result<std::string> BlockingStore::create_multipart(const std::string& key) {
  return wait<std::string>(
      [&](Done<std::string> d) { store_->create_multipart(key, std::move(d)); });
}

Result<PartInfo> BlockingStore::upload_part(const std::string& key, const std::string& upload_id,
                                            int number, Body body) {
  return wait<PartInfo>([&](Done<PartInfo> d) {
    store_->upload_part(key, upload_id, number, std::move(body), std::move(d));
  });
}

Result<PutReply> BlockingStore::complete_multipart(const std::string& key,
                                                   const std::string& upload_id,
                                                   std::vector<PartInfo> parts) {
  return wait<PutReply>([&](Done<PutReply> d) {
    store_->complete_multipart(key, upload_id, std::move(parts), std::move(d));
  });
}

Status BlockingStore::abort_multipart(const std::string& key, const std::string& upload_id) {
  return wait<void>(
      [&](Done<void> d) { store_->abort_multipart(key, upload_id, std::move(d)); });
}

Result<std::vector<PartInfo>> BlockingStore::list_parts(const std::string& key,
                                                        const std::string& upload_id) {
  return wait<std::vector<PartInfo>>([&](Done<std::vector<PartInfo>> d) {
    store_->list_parts(key, upload_id, std::move(d));
  });
}

Result<PutReply> BlockingStore::append(const std::string& key, uint64_t position, Body body) {
  return wait<PutReply>([&](Done<PutReply> d) {
    store_->append(key, position, std::move(body), std::move(d));
  });
}

}  // namespace shoal
