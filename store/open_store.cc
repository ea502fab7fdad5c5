#include "store/open_store.h"

#include "store/file/file_store.h"
#include "store/rest/rest_store.h"

namespace shoal {

Result<std::unique_ptr<ObjectStore>> open_store(const ObjectUri& uri, const StoreConfig& config,
                                                Reactor& reactor) {
  if (uri.scheme == ObjectUri::Scheme::kFile) {
    return std::unique_ptr<ObjectStore>(std::make_unique<FileStore>("/", reactor));
  }
  return make_rest_store(uri, config, reactor);
}

}  // namespace shoal
