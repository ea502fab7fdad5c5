// The EROFS metadata reader (index/erofs/metadata_reader.h) on an arbitrary metadata region:
// the super block, inodes, directory blocks and path lookups of a damaged or hostile image
// must give errors, never a read outside the region.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz/erofs_walk.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size copy, so ASan catches a read one byte past the region.
  std::vector<uint8_t> metadata(data, data + size);
  shoal::fuzz::walk_erofs(metadata);
  return 0;
}
