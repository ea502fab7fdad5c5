#include "index/keys.h"

#include <algorithm>

namespace shoal {
namespace {

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

// The first rule a single name breaks, if any.
SkipReason check_name(std::string_view name) {
  if (name.empty()) return SkipReason::kEmptySegment;
  if (name == "." || name == "..") return SkipReason::kDotSegment;
  if (name.size() > kMaxNameBytes) return SkipReason::kNameTooLong;
  return SkipReason::kNone;
}

SkipReason check_path(std::string_view path) {
  if (std::any_of(path.begin(), path.end(), [](char c) { return is_control(c); })) {
    return SkipReason::kControlCharacter;
  }
  for (;;) {
    size_t slash = path.find('/');
    SkipReason r = check_name(path.substr(0, slash));
    if (r != SkipReason::kNone || slash == std::string_view::npos) return r;
    path.remove_prefix(slash + 1);
  }
}

KeyMapping skipped(SkipReason reason) {
  KeyMapping m;
  m.skip = reason;
  return m;
}

// The part of `key` below `prefix`, or false when the key is not under it.
bool strip_prefix(std::string_view prefix, std::string_view& key) {
  if (!key.starts_with(prefix)) return false;
  key.remove_prefix(prefix.size());
  if (prefix.empty() || prefix.back() == '/') return true;
  if (key.empty() || key.front() != '/') return false;  // "train" must not match "trainer/x"
  key.remove_prefix(1);
  return true;
}

}  // namespace

std::string_view to_string(SkipReason reason) {
  switch (reason) {
    case SkipReason::kNone: return "none";
    case SkipReason::kOutsidePrefix: return "outside-prefix";
    case SkipReason::kEmptySegment: return "empty-segment";
    case SkipReason::kDotSegment: return "dot-segment";
    case SkipReason::kNameTooLong: return "name-too-long";
    case SkipReason::kControlCharacter: return "control-character";
    case SkipReason::kMarkerWithData: return "marker-with-data";
    case SkipReason::kFileDirConflict: return "file-dir-conflict";
    case SkipReason::kDuplicate: return "duplicate";
  }
  return "unknown";
}

std::string_view explain(SkipReason reason) {
  switch (reason) {
    case SkipReason::kNone: return "not skipped";
    case SkipReason::kOutsidePrefix: return "the key is not under the volume's prefix";
    case SkipReason::kEmptySegment:
      return "the key has an empty name (\"a//b\" or a '/' right after the prefix)";
    case SkipReason::kDotSegment: return "the key has a \".\" or \"..\" name";
    case SkipReason::kNameTooLong: return "a name in the key is longer than 255 bytes";
    case SkipReason::kControlCharacter:
      return "the key contains a control character (0x00-0x1F or 0x7F)";
    case SkipReason::kMarkerWithData:
      return "a key ending in '/' names a directory, but this object is not empty";
    case SkipReason::kFileDirConflict:
      return "other keys use this key as a directory; the directory wins";
    case SkipReason::kDuplicate: return "the key appeared more than once; the first is used";
  }
  return "unknown reason";
}

KeyMapping map_key(std::string_view prefix, std::string_view key, uint64_t size) {
  std::string_view rest = key;
  if (!strip_prefix(prefix, rest)) return skipped(SkipReason::kOutsidePrefix);
  KeyMapping m;
  if (!rest.empty() && rest.back() == '/') {
    m.kind = EntryKind::kDirectory;
    rest.remove_suffix(1);
    if (rest.empty()) return skipped(SkipReason::kEmptySegment);  // "prefix//"
  } else if (rest.empty()) {
    m.kind = EntryKind::kDirectory;  // the prefix's own marker: the volume root
  }
  SkipReason broken = rest.empty() ? SkipReason::kNone : check_path(rest);
  if (broken != SkipReason::kNone) return skipped(broken);
  if (m.kind == EntryKind::kDirectory && size > 0) return skipped(SkipReason::kMarkerWithData);
  m.path = rest;
  return m;
}

std::vector<std::string_view> path_components(std::string_view path) {
  std::vector<std::string_view> names;
  while (!path.empty()) {
    size_t slash = path.find('/');
    names.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return names;
}

SortedKeyWalker::SortedKeyWalker(std::string_view prefix, Sink sink)
    : prefix_(prefix), sink_(std::move(sink)) {}

void SortedKeyWalker::decide(const HeldFile& file, SkipReason skip) {
  std::string_view key = file.key;
  KeyDecision d{key, file.tag, EntryKind::kFile, key.substr(file.path_offset), skip};
  if (skip != SkipReason::kNone) d.path = {};
  sink_(d);
}

// A held file "P" is settled once `key` cannot be followed by a key under "P/": keys that
// start with P and continue with a byte below '/' (such as "P.txt") keep it open, a key
// under "P/" that enters the volume makes it a conflict, anything else closes it as a plain
// file. A skipped key under "P/" creates nothing, so P stays open for the keys after it.
void SortedKeyWalker::release_held_before(std::string_view key, bool creates_entry) {
  while (!held_.empty()) {
    const HeldFile& top = held_.back();
    std::string_view p = top.key;
    bool extends = key.size() > p.size() && key.starts_with(p);
    auto next = extends ? static_cast<unsigned char>(key[p.size()]) : 0;
    if (extends && (next < '/' || (next == '/' && !creates_entry))) return;
    decide(top, extends && next == '/' ? SkipReason::kFileDirConflict : SkipReason::kNone);
    held_.pop_back();
  }
}

Status SortedKeyWalker::add(std::string_view key, uint64_t size, uint64_t tag) {
  if (has_previous_ && key < std::string_view(previous_)) {
    return Error(ErrorKind::kInvalidArgument,
                 "keys are not in byte order: a key sorts before the one given just before it");
  }
  bool duplicate = has_previous_ && key == previous_;
  previous_.assign(key);
  has_previous_ = true;
  if (duplicate) {
    sink_(KeyDecision{key, tag, EntryKind::kFile, {}, SkipReason::kDuplicate});
    return {};
  }
  KeyMapping m = map_key(prefix_, key, size);
  release_held_before(key, !m.skipped());
  if (m.skipped() || m.kind == EntryKind::kDirectory) {
    sink_(KeyDecision{key, tag, m.kind, m.path, m.skip});
    return {};
  }
  held_.push_back(HeldFile{std::string(key), tag, static_cast<size_t>(m.path.data() - key.data())});
  return {};
}

void SortedKeyWalker::finish() {
  while (!held_.empty()) {
    decide(held_.back(), SkipReason::kNone);
    held_.pop_back();
  }
}

}  // namespace shoal
