// A tiny index for tests of the index file and what reads it: contents to hand to
// write_index_file, with its records public so a test can alter one before writing.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "index/index_file.h"

namespace shoal::test {

// Three objects: "a" (5000 B, blocks 2-3), "empty" (0 B), "b" (1 B, block 4); two metadata blocks.
struct SmallIndex {
  std::vector<uint8_t> metadata = std::vector<uint8_t>(2 * index::kBlockSize, 0xAB);
  std::string strings = "aetag-aemptyetag-ebetag-b";
  std::vector<index::ObjectRecord> objects = {
      {5000, 1, 0, 1, 6, 0, 1, 2},
      {0, 2, 7, 5, 6, 0, 12, 0},
      {1, 3, 18, 1, 6, 0, 19, 4},
  };
  std::vector<index::Extent> extents = {{2, 0}, {4, 2}};

  index::IndexContents contents() const {
    index::IndexContents c;
    c.summary = {5, 2, objects.size(), extents.size(), 1700000000};
    c.metadata = metadata;
    c.extents = extents;
    c.objects = objects;
    c.strings = std::span(strings.data(), strings.size());
    c.build_info.source = "file:///x";
    c.build_info.objects = 3;
    return c;
  }
};

}  // namespace shoal::test
