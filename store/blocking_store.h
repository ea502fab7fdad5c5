// A blocking face on an ObjectStore for tools and tests: each call starts the asynchronous
// operation and runs a private PollReactor until it completes. Not for the daemon's data
// path, which drives the store from its own loop.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/poll_reactor.h"
#include "common/result.h"
#include "store/object_store.h"
#include "store/store_config.h"

namespace shoal {

class BlockingStore {
 public:
  // Opens the backend of the URI's scheme (see open_store.h) on a new PollReactor.
  static Result<BlockingStore> open(const ObjectUri& uri, const StoreConfig& config);
  // Wraps a store built elsewhere; `make` receives the reactor the store must use.
  using StoreMaker = std::function<Result<std::unique_ptr<ObjectStore>>(Reactor&)>;
  static Result<BlockingStore> wrap(const StoreMaker& make);

  BlockingStore(BlockingStore&&) noexcept = default;
  BlockingStore& operator=(BlockingStore&& other) noexcept;

  Result<ListPage> list(ListQuery query);
  // Every page of a listing, in order; stops at the first error, from the store or from
  // on_page.
  Status list_all(ListQuery query, const std::function<Status(const ListPage&)>& on_page);
  Result<ObjectInfo> head(const std::string& key);
  Result<GetReply> get(GetQuery query);
  Result<PutReply> put(const std::string& key, Body body);
  Status remove(const std::string& key);

  Result<std::string> create_multipart(const std::string& key);
  Result<PartInfo> upload_part(const std::string& key, const std::string& upload_id, int number,
                               Body body);
  Result<PutReply> complete_multipart(const std::string& key, const std::string& upload_id,
                                      std::vector<PartInfo> parts);
  Status abort_multipart(const std::string& key, const std::string& upload_id);
  Result<std::vector<PartInfo>> list_parts(const std::string& key, const std::string& upload_id);
  Result<PutReply> append(const std::string& key, uint64_t position, Body body);

  ObjectStore& async() { return *store_; }
  PollReactor& reactor() { return *reactor_; }

 private:
  BlockingStore(std::unique_ptr<PollReactor> reactor, std::unique_ptr<ObjectStore> store);

  template <class T, class Start>
  Result<T> wait(Start start);

  // Declared first so it is destroyed last: the store may unwatch fds or cancel timers as it
  // goes.
  std::unique_ptr<PollReactor> reactor_;
  std::unique_ptr<ObjectStore> store_;
};

}  // namespace shoal
