// How a device byte range maps onto the index: metadata bytes from the mapping, zeros for
// holes and for the tail of an object's last block, and object bytes, cut at fetch-unit
// boundaries so each piece is served from one cached buffer.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "daemon/cache/memory_cache.h"
#include "index/index_file.h"

namespace shoal::engine {

// The fetch unit of an object: the whole object up to whole_object_max, else aligned chunks.
struct FetchGeometry {
  uint64_t whole_object_max = 0;
  uint64_t chunk_size = 0;

  bool chunked(const index::ObjectRecord& r) const { return r.size > whole_object_max; }
  uint32_t unit_of(const index::ObjectRecord& r, uint64_t object_offset) const {
    return chunked(r) ? static_cast<uint32_t>(object_offset / chunk_size) : 0;
  }
  uint32_t unit_count(const index::ObjectRecord& r) const {
    return chunked(r) ? static_cast<uint32_t>((r.size + chunk_size - 1) / chunk_size) : 1;
  }
  uint64_t unit_offset(const index::ObjectRecord& r, uint32_t unit) const {
    return chunked(r) ? uint64_t{unit} * chunk_size : 0;
  }
  uint64_t unit_length(const index::ObjectRecord& r, uint32_t unit) const {
    if (!chunked(r)) return r.size;
    uint64_t start = uint64_t{unit} * chunk_size;
    return start >= r.size ? 0 : std::min(chunk_size, r.size - start);
  }
};

struct ReadStep {
  enum class Kind { kMetadata, kZeros, kObject };
  Kind kind = Kind::kZeros;
  uint64_t dest = 0;    // offset inside the request
  uint64_t length = 0;
  uint64_t source = 0;  // kMetadata: offset in the metadata region; kObject: offset in the unit
  CacheKey unit;        // kObject only
};

// The steps that fill [offset, offset + length), in order. The range must lie inside the
// device (the caller checks).
std::vector<ReadStep> plan_read(const index::IndexFile& index, const FetchGeometry& geometry,
                                uint64_t offset, uint64_t length);

}  // namespace shoal::engine
