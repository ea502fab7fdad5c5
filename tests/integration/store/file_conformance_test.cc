// The store conformance suite on the file:// backend, each test in a fresh temporary tree.
#include <filesystem>

#include "store/uri.h"
#include "tests/support/store_conformance.h"

namespace shoal {
namespace {

Result<ConformanceTarget> open_temp_tree() {
  std::string dir = (std::filesystem::temp_directory_path() / "shoal-file-conf-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) return errno_error("mkdtemp " + dir, errno);
  SHOAL_ASSIGN(ObjectUri uri, parse_object_uri("file://" + dir + "/"));
  SHOAL_ASSIGN(BlockingStore store, BlockingStore::open(uri, StoreConfig{}));
  return ConformanceTarget{std::move(store), uri.prefix, [dir] {
                             std::error_code ec;
                             std::filesystem::remove_all(dir, ec);
                           }};
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
