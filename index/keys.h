// Key → path rules: which objects under a listing prefix become which files and directories
// of the volume, and which are skipped and why. The rules are written down in
// docs/key-rules.md; this file is their only implementation.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace shoal {

// The longest name EROFS (and Linux) accepts for one directory entry.
inline constexpr size_t kMaxNameBytes = 255;

enum class EntryKind : uint8_t { kFile, kDirectory };

enum class SkipReason : uint8_t {
  kNone,
  kOutsidePrefix,     // the key is not under the listing prefix
  kEmptySegment,      // "a//b", a leading "/" after the prefix, or "a//" as a marker
  kDotSegment,        // a "." or ".." name
  kNameTooLong,       // one name over 255 bytes
  kControlCharacter,  // a byte 0x00-0x1F or 0x7F in the key
  kMarkerWithData,    // a "dir/" key whose object is not empty
  kFileDirConflict,   // the key "a" while "a/..." also exists: the directory wins
  kDuplicate,         // the same key a second time (possible in a manifest)
};

// A short stable tag for reports and logs, e.g. "file-dir-conflict".
std::string_view to_string(SkipReason reason);
// One sentence for the build report saying what the rule is.
std::string_view explain(SkipReason reason);

struct KeyMapping {
  EntryKind kind = EntryKind::kFile;
  // Inside the volume, '/'-separated, no leading or trailing '/'; "" is the volume root
  // (the prefix's own "dir/" marker). A view into the key.
  std::string_view path;
  SkipReason skip = SkipReason::kNone;
  bool skipped() const { return skip != SkipReason::kNone; }
};

// Maps one key on its own: every rule except the file/directory conflict and duplicates,
// which need the whole sorted key set (SortedKeyWalker). A prefix that is not empty and does
// not end in '/' is treated as if it did: a prefix names a directory.
KeyMapping map_key(std::string_view prefix, std::string_view key, uint64_t size);

// Splits a mapped path into its names.
std::vector<std::string_view> path_components(std::string_view path);

// The outcome for one key fed to SortedKeyWalker. Views are valid during the callback only.
struct KeyDecision {
  std::string_view key;
  uint64_t tag = 0;  // the caller's handle for the object (e.g. its row in the object table)
  EntryKind kind = EntryKind::kFile;
  std::string_view path;
  SkipReason skip = SkipReason::kNone;
  bool skipped() const { return skip != SkipReason::kNone; }
};

// Applies every rule to keys arriving in byte order (as S3 and OSS list them), including the
// conflict between a file "a" and keys under "a/" — which need not be adjacent: "a.txt" and
// "a b" sort between "a" and "a/b" because '.' and ' ' are below '/'. A file's decision is
// therefore held back until no later key can fall under it; every key gets exactly one
// decision, not necessarily in input order. Memory: the chain of file keys that are
// prefixes of one another, which is short.
class SortedKeyWalker {
 public:
  using Sink = std::function<void(const KeyDecision&)>;
  SortedKeyWalker(std::string_view prefix, Sink sink);

  // kInvalidArgument when `key` sorts before the previous key (the input is not sorted).
  Status add(std::string_view key, uint64_t size, uint64_t tag);
  // Decides every file still held back. Call once after the last key.
  void finish();

 private:
  struct HeldFile {
    std::string key;
    uint64_t tag = 0;
    size_t path_offset = 0;  // where the mapped path starts in key
  };
  void decide(const HeldFile& file, SkipReason skip);
  void release_held_before(std::string_view key, bool creates_entry);

  std::string prefix_;
  Sink sink_;
  std::string previous_;
  bool has_previous_ = false;
  std::vector<HeldFile> held_;  // each a prefix of the one above it
};

}  // namespace shoal
