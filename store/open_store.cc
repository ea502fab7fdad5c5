#include "store/open_store.h"

#include "common/log.h"
#include "store/file/file_store.h"
#include "store/rest/rest_store.h"

namespace shoal {

Result<std::unique_ptr<ObjectStore>> open_store(const ObjectUri& uri, const StoreConfig& config,
                                                Reactor& reactor) {
  if (uri.scheme == ObjectUri::Scheme::kFile) {
    return std::unique_ptr<ObjectStore>(std::make_unique<FileStore>("/", reactor));
  }
  if (!config.verify_tls && config.endpoint.starts_with("https://")) {
    log_warning("TLS certificates of " + config.endpoint +
                " are NOT checked (verify_tls = false): anyone between this host and the store "
                "can read and change what is fetched and uploaded");
  }
  return make_rest_store(uri, config, reactor);
}

}  // namespace shoal
