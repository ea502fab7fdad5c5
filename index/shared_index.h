// Indexes shared through the bucket: a fleet builds an index once (`shoal index build … -o
// s3://bucket/indexes/x.shix`) and every node mounts it from there. The object is fetched into a
// local cache under a name made of its URI and ETag, every section verified before the file
// takes that name, and reused by later mounts while the object's ETag is unchanged. A replaced
// object (a new ETag) is fetched again; one whose bytes do not match its ETag's promise — a
// corrupt or truncated index, a GET answered with another version — is refused with a message
// and never left in the cache.
#pragma once

#include <string>

#include "common/result.h"
#include "store/blocking_store.h"
#include "store/uri.h"

namespace shoal::index {

struct SharedIndex {
  std::string path;      // the verified local copy
  std::string etag;      // of the object it was fetched from
  bool fetched = false;  // false: an earlier mount's copy was reused
  uint64_t bytes = 0;
};

// `name_of(text)` names the cache file for a URI and ETag (a hash: the URI may hold any byte).
Result<SharedIndex> fetch_shared_index(BlockingStore& store, const ObjectUri& uri,
                                       const std::string& cache_dir,
                                       std::string (*name_of)(std::string_view text));

}  // namespace shoal::index
