// The store factory: the URI's scheme picks the backend.
#pragma once

#include <memory>

#include "common/reactor.h"
#include "common/result.h"
#include "store/object_store.h"
#include "store/store_config.h"

namespace shoal {

// oss:// and s3:// get the REST client, file:// the local-tree backend (rooted at "/", since
// file:// keys are absolute paths). The store must not outlive the reactor.
Result<std::unique_ptr<ObjectStore>> open_store(const ObjectUri& uri, const StoreConfig& config,
                                                Reactor& reactor);

}  // namespace shoal
