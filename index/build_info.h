// What an index was built from and what its build left out, as typed fields. This file holds
// the one encoder and the one decoder of the index's build-info section, so no caller ever
// parses text to learn the volume's source or key prefix.
//
// Section layout (docs/index-format.md): a sequence of records, each a little-endian u16 tag,
// a u32 length and that many value bytes. Integers are little-endian u64 / i64; text is
// UTF-8 without a terminator; a skipped key is one reason byte followed by the key. A reader
// skips tags it does not know, so later builders may add fields without a format bump.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "index/keys.h"

namespace shoal::index {

struct SkippedKey {
  SkipReason reason = SkipReason::kNone;
  std::string key;  // whole, as listed (not relative to the prefix)

  friend bool operator==(const SkippedKey&, const SkippedKey&) = default;
};

struct BuildInfo {
  std::string source;         // the URI as given to the builder
  std::string prefix;         // the key prefix the volume is rooted at ("" or ending in '/')
  int64_t built_unix = 0;
  uint64_t objects = 0;       // seen in the listing or manifest
  uint64_t files = 0;
  uint64_t directories = 0;   // including the root
  uint64_t outside_prefix = 0;  // manifest rows for other prefixes, counted, not indexed
  bool keep_mtime = false;
  std::vector<SkippedKey> skipped;

  friend bool operator==(const BuildInfo&, const BuildInfo&) = default;
};

std::string encode_build_info(const BuildInfo& info);

// Refuses a record that runs past the section, an integer of the wrong width, a skip reason
// this reader does not know or a required field (source, prefix) that is absent; the message
// says which.
Result<BuildInfo> decode_build_info(std::span<const char> bytes);

// "key: value" lines for people (`shoal index info`), then one "skipped: <reason>\t<key>" line
// per key left out. Only for display: nothing reads it back.
std::string describe(const BuildInfo& info);

}  // namespace shoal::index
