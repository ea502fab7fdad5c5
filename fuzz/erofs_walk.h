// Walks an EROFS metadata region with MetadataReader the way `shoal index ls` and verify do,
// checking that what list() returns agrees with lookup(). Shared by the EROFS and index targets.
#pragma once

#include <cstdint>
#include <cstdio>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "index/erofs/metadata_reader.h"

namespace shoal::fuzz {

inline void walk_erofs(std::span<const uint8_t> metadata) {
  using namespace shoal::index::erofs;
  auto reader = MetadataReader::open(metadata);
  if (!reader.ok()) {
    FUZZ_CHECK(!reader.error().message.empty());
    return;
  }
  auto root = reader->inode(reader->root_nid());
  if (!root.ok()) return;
  // Bounded: a corrupt image may hold cycles and millions of entries.
  size_t budget = 256;
  std::set<uint64_t> seen;
  struct Pending {
    InodeInfo dir;
    std::string path;
  };
  std::vector<Pending> todo{{*root, ""}};
  while (!todo.empty() && budget > 0) {
    Pending p = std::move(todo.back());
    todo.pop_back();
    if (!p.dir.is_directory() || !seen.insert(p.dir.nid).second) continue;
    auto entries = reader->list(p.dir);
    if (!entries.ok()) continue;
    for (const DirectoryEntry& e : *entries) {
      if (budget == 0) break;
      --budget;
      if (e.name == "." || e.name == "..") continue;
      FUZZ_CHECK(!e.name.empty());
      auto child = reader->inode(e.nid);
      if (!child.ok()) continue;
      std::string path = p.path + "/" + std::string(e.name);
      // list() checked that names are strictly increasing, so the binary search of lookup()
      // must land on the same entry, unless a directory on the way fails its own checks.
      if (path.find('\0') == std::string::npos && p.path.empty()) {
        auto found = reader->lookup(path);
        if (!found.ok() || found->nid != e.nid) {
          std::fprintf(stderr, "listed '%s' (nid %llu), lookup: %s\n", path.c_str(),
                       static_cast<unsigned long long>(e.nid),
                       found.ok() ? ("nid " + std::to_string(found->nid)).c_str()
                                  : found.error().describe().c_str());
        }
        FUZZ_CHECK(found.ok() && found->nid == e.nid);
      }
      if (child->is_directory()) todo.push_back({*child, path});
    }
  }
}

}  // namespace shoal::fuzz
