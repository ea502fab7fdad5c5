#include "index/keys.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace shoal {
namespace {

struct MapCase {
  std::string key;
  uint64_t size;
  SkipReason skip;
  EntryKind kind;
  std::string path;
};

void expect_mapping(std::string_view prefix, const MapCase& c) {
  SCOPED_TRACE("prefix '" + std::string(prefix) + "' key '" + c.key + "'");
  KeyMapping m = map_key(prefix, c.key, c.size);
  EXPECT_EQ(to_string(m.skip), to_string(c.skip));
  if (!m.skipped()) {
    EXPECT_EQ(m.kind, c.kind);
    EXPECT_EQ(m.path, c.path);
  }
}

constexpr auto kFile = EntryKind::kFile;
constexpr auto kDir = EntryKind::kDirectory;
constexpr auto kOk = SkipReason::kNone;

TEST(MapKey, PlainFilesAndDirectoryMarkers) {
  for (const auto& c : std::vector<MapCase>{
           {"train/a.jpg", 10, kOk, kFile, "a.jpg"},
           {"train/n01/n01_1.JPEG", 10, kOk, kFile, "n01/n01_1.JPEG"},
           {"train/empty", 0, kOk, kFile, "empty"},
           {"train/d/", 0, kOk, kDir, "d"},
           {"train/d/e/", 0, kOk, kDir, "d/e"},
           {"train/", 0, kOk, kDir, ""},  // the prefix's own marker is the root
           {"train/with space+plus%25/ünïcödé ✓", 1, kOk, kFile, "with space+plus%25/ünïcödé ✓"},
           {"train/.hidden", 1, kOk, kFile, ".hidden"},
           {"train/...", 1, kOk, kFile, "..."},
           {"train/a..b/.x.", 1, kOk, kFile, "a..b/.x."},
       }) {
    expect_mapping("train/", c);
  }
}

TEST(MapKey, PrefixIsADirectoryWithOrWithoutItsSlash) {
  expect_mapping("train", {"train/a", 1, kOk, kFile, "a"});
  expect_mapping("train", {"train/", 0, kOk, kDir, ""});
  expect_mapping("train", {"trainer/a", 1, SkipReason::kOutsidePrefix, kFile, ""});
  expect_mapping("train", {"train", 1, SkipReason::kOutsidePrefix, kFile, ""});
  expect_mapping("train/", {"test/a", 1, SkipReason::kOutsidePrefix, kFile, ""});
  expect_mapping("train/", {"train", 0, SkipReason::kOutsidePrefix, kFile, ""});
  expect_mapping("", {"a/b", 1, kOk, kFile, "a/b"});
  expect_mapping("", {"/a", 1, SkipReason::kEmptySegment, kFile, ""});
}

TEST(MapKey, EmptySegmentsAreSkipped) {
  for (const char* key : {"train/a//b", "train//a", "train//", "train/a//", "train/a/b//c/"}) {
    expect_mapping("train/", {key, 0, SkipReason::kEmptySegment, kFile, ""});
  }
}

TEST(MapKey, DotSegmentsAreSkipped) {
  for (const char* key :
       {"train/./a", "train/a/..", "train/../x", "train/a/./", "train/.", "train/../"}) {
    expect_mapping("train/", {key, 0, SkipReason::kDotSegment, kFile, ""});
  }
}

TEST(MapKey, NamesOver255BytesAreSkipped) {
  std::string longest(255, 'x'), too_long(256, 'x');
  expect_mapping("train/", {"train/" + longest, 1, kOk, kFile, longest});
  expect_mapping("train/", {"train/d/" + longest + "/f", 1, kOk, kFile, "d/" + longest + "/f"});
  expect_mapping("train/", {"train/" + too_long, 1, SkipReason::kNameTooLong, kFile, ""});
  expect_mapping("train/", {"train/" + too_long + "/", 0, SkipReason::kNameTooLong, kDir, ""});
  // 255 bytes of UTF-8 is fine, 256 is not, whatever the character count.
  std::string euros;
  for (int i = 0; i < 86; ++i) euros += "€";  // 258 bytes, 86 characters
  expect_mapping("train/", {"train/" + euros, 1, SkipReason::kNameTooLong, kFile, ""});
}

TEST(MapKey, ControlCharactersAreSkipped) {
  for (char c : {'\0', '\x01', '\t', '\n', '\r', '\x1f', '\x7f'}) {
    std::string key = "train/a";
    key += c;
    key += "b";
    expect_mapping("train/", {key, 1, SkipReason::kControlCharacter, kFile, ""});
  }
  expect_mapping("train/", {"train/\x1b[31m/", 0, SkipReason::kControlCharacter, kDir, ""});
}

TEST(MapKey, NonEmptyDirectoryMarkersAreSkipped) {
  expect_mapping("train/", {"train/d/", 5, SkipReason::kMarkerWithData, kDir, ""});
  expect_mapping("train/", {"train/", 5, SkipReason::kMarkerWithData, kDir, ""});
}

TEST(MapKey, EveryReasonHasATagAndAnExplanation) {
  std::set<std::string_view> tags;
  for (int r = 0; r <= static_cast<int>(SkipReason::kDuplicate); ++r) {
    auto reason = static_cast<SkipReason>(r);
    tags.insert(to_string(reason));
    EXPECT_GT(explain(reason).size(), 5u);
  }
  EXPECT_EQ(tags.size(), static_cast<size_t>(SkipReason::kDuplicate) + 1);
}

TEST(PathComponents, SplitsOnSlashes) {
  EXPECT_EQ(path_components("a/b c/d.txt"), (std::vector<std::string_view>{"a", "b c", "d.txt"}));
  EXPECT_EQ(path_components("a"), (std::vector<std::string_view>{"a"}));
  EXPECT_TRUE(path_components("").empty());
}

struct Outcome {
  SkipReason skip;
  EntryKind kind;
  std::string path;
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << to_string(o.skip) << (o.kind == kDir ? " dir '" : " file '") << o.path << "'";
}

// Feeds keys in the given order; each key's outcome by its position.
std::vector<Outcome> walk(std::string_view prefix, const std::vector<std::string>& keys,
                          Status* status = nullptr) {
  std::vector<Outcome> out(keys.size(), Outcome{SkipReason::kNone, kFile, "<undecided>"});
  std::vector<int> decisions(keys.size(), 0);
  SortedKeyWalker walker(prefix, [&](const KeyDecision& d) {
    EXPECT_EQ(d.key, keys.at(d.tag));
    out.at(d.tag) = Outcome{d.skip, d.kind, std::string(d.path)};
    ++decisions.at(d.tag);
  });
  for (size_t i = 0; i < keys.size(); ++i) {
    bool dir = !keys[i].empty() && keys[i].back() == '/';
    Status s = walker.add(keys[i], dir ? 0 : 1, i);
    if (!s.ok()) {
      if (status) *status = s;
      return out;
    }
  }
  walker.finish();
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(decisions[i], 1) << "key " << keys[i];
  return out;
}

const Outcome kConflict{SkipReason::kFileDirConflict, kFile, ""};
Outcome file(std::string p) { return {kOk, kFile, std::move(p)}; }
Outcome dir(std::string p) { return {kOk, kDir, std::move(p)}; }

TEST(SortedKeyWalker, DirectoryWinsOverAFileOfTheSameName) {
  EXPECT_EQ(walk("p/", {"p/a", "p/a/b"}), (std::vector<Outcome>{kConflict, file("a/b")}));
  EXPECT_EQ(walk("p/", {"p/a", "p/a/"}), (std::vector<Outcome>{kConflict, dir("a")}));
  EXPECT_EQ(walk("p/", {"p/a", "p/ab", "p/b"}),
            (std::vector<Outcome>{file("a"), file("ab"), file("b")}));
}

TEST(SortedKeyWalker, KeysSortingBetweenAFileAndItsDirectoryAreHandled) {
  // '.', ' ', '-' and '+' sort below '/', so these land between "a" and "a/b".
  std::vector<std::string> keys = {"p/a", "p/a b", "p/a+c", "p/a-c/x", "p/a.txt", "p/a/", "p/a/b"};
  ASSERT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  EXPECT_EQ(walk("p/", keys),
            (std::vector<Outcome>{kConflict, file("a b"), file("a+c"), file("a-c/x"), file("a.txt"),
                                  dir("a"), file("a/b")}));
  // The in-between key can itself be a file and a directory.
  EXPECT_EQ(walk("p/", {"p/a", "p/a.b", "p/a.b/c", "p/a/d"}),
            (std::vector<Outcome>{kConflict, kConflict, file("a.b/c"), file("a/d")}));
  EXPECT_EQ(walk("p/", {"p/a", "p/a.b", "p/a.b/c"}),
            (std::vector<Outcome>{file("a"), kConflict, file("a.b/c")}));
}

TEST(SortedKeyWalker, SkippedKeysCreateNoDirectory) {
  EXPECT_EQ(walk("p/", {"p/a", "p/a//b"}),
            (std::vector<Outcome>{file("a"), Outcome{SkipReason::kEmptySegment, kFile, ""}}));
  EXPECT_EQ(walk("p/", {"p/a", "p/a//b", "p/a/c"}),
            (std::vector<Outcome>{kConflict, Outcome{SkipReason::kEmptySegment, kFile, ""},
                                  file("a/c")}));
  EXPECT_EQ(walk("p/", {"p/a", "p/a/../b"}),
            (std::vector<Outcome>{file("a"), Outcome{SkipReason::kDotSegment, kFile, ""}}));
}

TEST(SortedKeyWalker, DuplicatesAndKeysOutsideThePrefix) {
  EXPECT_EQ(walk("p/", {"o/x", "p/", "p/a", "p/a", "q"}),
            (std::vector<Outcome>{Outcome{SkipReason::kOutsidePrefix, kFile, ""}, dir(""),
                                  file("a"), Outcome{SkipReason::kDuplicate, kFile, ""},
                                  Outcome{SkipReason::kOutsidePrefix, kFile, ""}}));
}

TEST(SortedKeyWalker, UnsortedInputIsAnError) {
  Status s;
  walk("p/", {"p/b", "p/a"}, &s);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kInvalidArgument);
}

// The rules stated directly over the whole key set, for comparison with the streaming walker.
std::vector<Outcome> oracle(std::string_view prefix, const std::vector<std::string>& keys) {
  std::vector<Outcome> out;
  std::set<std::string> valid;
  for (const auto& k : keys) {
    bool dir = !k.empty() && k.back() == '/';
    if (!map_key(prefix, k, dir ? 0 : 1).skipped()) valid.insert(k);
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string& k = keys[i];
    bool dir = !k.empty() && k.back() == '/';
    KeyMapping m = map_key(prefix, k, dir ? 0 : 1);
    if (i > 0 && keys[i - 1] == k) {
      out.push_back({SkipReason::kDuplicate, kFile, ""});
    } else if (m.skipped()) {
      out.push_back({m.skip, kFile, ""});
    } else if (m.kind == kFile && std::any_of(valid.begin(), valid.end(), [&](const auto& v) {
                 return v.starts_with(k + "/");
               })) {
      out.push_back(kConflict);
    } else {
      out.push_back({kOk, m.kind, std::string(m.path)});
    }
  }
  return out;
}

TEST(SortedKeyWalker, AgreesWithTheRulesOnRandomKeySets) {
  std::mt19937 rng(20260102);
  const std::string alphabet = "ab./ -";
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::string> keys;
    int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      std::string k = "p/";
      int len = 1 + static_cast<int>(rng() % 6);
      for (int j = 0; j < len; ++j) k += alphabet[rng() % alphabet.size()];
      keys.push_back(k);
      if (rng() % 10 == 0) keys.push_back(k);  // duplicates, as a manifest may have
    }
    std::sort(keys.begin(), keys.end());
    auto got = walk("p/", keys);
    auto want = oracle("p/", keys);
    for (size_t i = 0; i < keys.size(); ++i) {
      ASSERT_EQ(got[i].skip, want[i].skip) << "key '" << keys[i] << "' in round " << round;
      if (want[i].skip == kOk) {
        ASSERT_EQ(got[i], want[i]) << "key '" << keys[i] << "'";
      }
    }
  }
}

void expect_valid_path(const KeyDecision& d) {
  if (d.skipped()) {
    EXPECT_TRUE(d.path.empty());
    return;
  }
  for (auto name : path_components(d.path)) {
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name, ".");
    EXPECT_NE(name, "..");
    EXPECT_LE(name.size(), kMaxNameBytes);
    for (unsigned char c : name) EXPECT_TRUE(c >= 0x20 && c != 0x7f);
  }
}

TEST(SortedKeyWalker, NeverCrashesOnRandomBytes) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::string prefix = round % 3 == 0 ? "" : (round % 3 == 1 ? "p/" : "p");
    std::vector<std::string> keys;
    for (int i = 0; i < 50; ++i) {
      std::string k = rng() % 2 ? prefix : "";
      size_t len = rng() % (rng() % 8 == 0 ? 600 : 12);
      for (size_t j = 0; j < len; ++j) {
        k += static_cast<char>(rng() % 4 == 0 ? '/' : (rng() % 3 == 0 ? 'a' : rng() % 256));
      }
      keys.push_back(std::move(k));
    }
    std::sort(keys.begin(), keys.end());
    size_t decided = 0;
    SortedKeyWalker walker(prefix, [&](const KeyDecision& d) {
      expect_valid_path(d);
      ++decided;
    });
    for (size_t i = 0; i < keys.size(); ++i) {
      ASSERT_TRUE(walker.add(keys[i], rng() % 2, i).ok());
    }
    walker.finish();
    EXPECT_EQ(decided, keys.size());
  }
}

}  // namespace
}  // namespace shoal
