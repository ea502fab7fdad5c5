// The version pin: every read of an indexed object's bytes (the engine's fetches, `shoal
// index export`) must come from the version the index recorded, never from a newer or older
// one. A GET carries If-Match with the indexed ETag where the store honours it, and every reply
// is checked against the indexed size and ETag whatever the store did with the header.
#pragma once

#include <optional>
#include <string>

#include "common/error.h"
#include "index/index_file.h"
#include "store/object_store.h"

namespace shoal::index {

// The GET of `range` of `object` (stored under `key`), pinned with If-Match when
// `if_match_supported` (Capabilities::if_match).
GetQuery pinned_get(const IndexFile& index, const ObjectRecord& object, std::string key,
                    ByteRange range, bool if_match_supported);

// Whether a failed pinned GET means the object is not (any longer) the indexed version: If-Match
// failed, the object is gone, or it became shorter than the range.
bool means_changed(ErrorKind kind);

// Why a reply's object is not the indexed version ("its size is 10, the index says 12"), or
// nullopt when it is: same size, and the same ETag when the index recorded one.
std::optional<std::string> version_mismatch(const IndexFile& index, const ObjectRecord& object,
                                            const ObjectInfo& reply);

}  // namespace shoal::index
