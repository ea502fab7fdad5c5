// The index file loader and verifier (index/index_file.h) on an arbitrary file: open() with
// structure checks only (what a mutated file reaches; checksums would stop nearly every input
// at the first hash), then with checksums, then check_entries() and the lookups the engine
// makes, then the EROFS metadata inside. The file goes through the real open + mmap path.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/erofs_walk.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/temp_file.h"
#include "index/index_file.h"

using namespace shoal;
using shoal::index::IndexFile;

namespace {

void exercise(const IndexFile& index) {
  const auto& summary = index.summary();
  FUZZ_CHECK(index.metadata().size() == uint64_t{summary.metadata_blocks} * index::kBlockSize);
  FUZZ_CHECK(index.objects().size() == summary.object_count);
  FUZZ_CHECK(index.extents().size() == summary.extent_count);

  // Out-of-pool references must come back empty, never as views past the mapping.
  size_t bytes = 0;
  for (const auto& object : index.objects()) {
    for (char c : index.key(object)) bytes += static_cast<unsigned char>(c);
    for (char c : index.etag(object)) bytes += static_cast<unsigned char>(c);
  }
  (void)bytes;

  bool entries_ok = index.check_entries().ok();
  for (uint64_t block : {uint64_t{0}, uint64_t{summary.metadata_blocks}, summary.device_blocks,
                         summary.device_blocks / 2, ~uint64_t{0}}) {
    const index::Extent* e = index.find_extent(block);
    if (e && entries_ok) FUZZ_CHECK(e->object < index.objects().size());
  }
  if (entries_ok) {
    for (const auto& extent : index.extents()) {
      FUZZ_CHECK(extent.object < index.objects().size());
      FUZZ_CHECK(index.find_extent(extent.first_block) == &extent);
      const auto& object = index.objects()[extent.object];
      FUZZ_CHECK(extent.first_block + index.blocks_of(object) <= summary.device_blocks);
    }
  }
  shoal::fuzz::walk_erofs(index.metadata());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = shoal::fuzz::scratch_dir() + "/index.shix";
  shoal::fuzz::write_file(path, data, size);
  for (auto verify : {IndexFile::Verify::kStructureOnly, IndexFile::Verify::kChecksums}) {
    auto index = IndexFile::open(path, verify);
    if (!index.ok()) {
      FUZZ_CHECK(!index.error().message.empty());
      break;  // checksums are checked on top of the structure
    }
    if (verify == IndexFile::Verify::kStructureOnly) exercise(*index);
  }
  return 0;
}
