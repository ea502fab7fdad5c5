// The store conformance suite on the file:// backend, each test in a fresh temporary tree.
#include <cerrno>
#include <memory>

#include "store/uri.h"
#include "support/temp_dir.h"
#include "tests/support/store_conformance.h"

namespace shoal {
namespace {

Result<ConformanceTarget> open_temp_tree() {
  auto dir = std::make_shared<test::TempDir>("shoal-file-conf");
  if (dir->path().empty()) return errno_error("mkdtemp in the temporary directory", errno);
  SHOAL_ASSIGN(ObjectUri uri, parse_object_uri("file://" + dir->path() + "/"));
  SHOAL_ASSIGN(BlockingStore store, BlockingStore::open(uri, StoreConfig{}));
  return ConformanceTarget{std::move(store), uri.prefix, [dir]() mutable { dir.reset(); }};
}

ConformanceBackend file_backend() {
  ConformanceBackend b;
  b.name = "File";
  b.open = open_temp_tree;
  // A file:// key is a path, and "a//b" has none: put refuses it (see store/file/file_tree.h).
  b.keys_with_empty_segments = false;
  return b;
}

INSTANTIATE_TEST_SUITE_P(File, StoreConformance, ::testing::Values(file_backend()),
                         conformance_test_name);

}  // namespace
}  // namespace shoal
