#include "daemon/engine/read_plan.h"

#include <algorithm>

namespace shoal::engine {
namespace {

using index::kBlockSize;

// Device offset of the first extent starting after `block`, or `limit` when there is none.
uint64_t next_extent_start(const index::IndexFile& index, uint64_t block, uint64_t limit) {
  auto extents = index.extents();
  auto it = std::upper_bound(extents.begin(), extents.end(), block,
                             [](uint64_t b, const index::Extent& e) { return b < e.first_block; });
  return it == extents.end() ? limit : std::min<uint64_t>(limit, uint64_t{it->first_block} * kBlockSize);
}

class Planner {
 public:
  Planner(const index::IndexFile& index, const FetchGeometry& geometry, uint64_t offset)
      : index_(index), geometry_(geometry), base_(offset) {}

  void metadata(uint64_t pos, uint64_t end) {
    steps_.push_back({ReadStep::Kind::kMetadata, pos - base_, end - pos, pos, {}});
  }
  void zeros(uint64_t pos, uint64_t end) {
    if (end > pos) steps_.push_back({ReadStep::Kind::kZeros, pos - base_, end - pos, 0, {}});
  }
  // Object bytes [pos, end) of the device, the extent starting at device offset `start`.
  void object(const index::Extent& e, uint64_t start, uint64_t pos, uint64_t end) {
    const index::ObjectRecord& r = index_.objects()[e.object];
    for (uint64_t at = pos - start; at < end - start;) {
      uint32_t unit = geometry_.unit_of(r, at);
      uint64_t unit_start = geometry_.unit_offset(r, unit);
      uint64_t unit_end = unit_start + geometry_.unit_length(r, unit);
      uint64_t n = std::min(end - start, unit_end) - at;
      steps_.push_back({ReadStep::Kind::kObject, start + at - base_, n, at - unit_start,
                        CacheKey{e.object, unit}});
      at += n;
    }
  }
  std::vector<ReadStep> take() { return std::move(steps_); }

 private:
  const index::IndexFile& index_;
  const FetchGeometry& geometry_;
  uint64_t base_;
  std::vector<ReadStep> steps_;
};

}  // namespace

std::vector<ReadStep> plan_read(const index::IndexFile& index, const FetchGeometry& geometry,
                                uint64_t offset, uint64_t length) {
  Planner plan(index, geometry, offset);
  const uint64_t end = offset + length;
  const uint64_t metadata_end = uint64_t{index.summary().metadata_blocks} * kBlockSize;
  for (uint64_t pos = offset; pos < end;) {
    uint64_t block = pos / kBlockSize;
    if (pos < metadata_end) {
      uint64_t stop = std::min(end, metadata_end);
      plan.metadata(pos, stop);
      pos = stop;
      continue;
    }
    const index::Extent* e = index.find_extent(block);
    if (e == nullptr) {  // a hole: zeros up to the next extent
      uint64_t stop = next_extent_start(index, block, end);
      plan.zeros(pos, stop);
      pos = stop;
      continue;
    }
    const index::ObjectRecord& r = index.objects()[e->object];
    uint64_t start = uint64_t{e->first_block} * kBlockSize;
    uint64_t stop = std::min(end, start + index.blocks_of(r) * kBlockSize);
    uint64_t data_end = std::min(stop, start + r.size);
    if (pos < data_end) plan.object(*e, start, pos, data_end);
    plan.zeros(std::max(pos, data_end), stop);  // past the object's end in its last block
    pos = stop;
  }
  return plan.take();
}

}  // namespace shoal::engine
