// The object manifest parser (index/manifest.h) on arbitrary CSV: the text of a manifest file
// handed to `shoal index build`. Every entry must point into the text or the parser's own
// buffer and lie on a line that exists; malformed lines are reported, never fatal.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "index/manifest.h"

using namespace shoal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  uint64_t lines = 1;
  for (char c : text) lines += c == '\n' || c == '\r';

  for (bool lenient : {false, true}) {
    uint64_t entries = 0, malformed = 0, last_line = 0;
    ManifestSink sink = [&](const ManifestEntry& e) -> Status {
      ++entries;
      FUZZ_CHECK(e.line >= 1 && e.line <= lines && e.line >= last_line);
      last_line = e.line;
      // Touch every byte, so ASan sees a view that outlived its buffer.
      size_t sum = 0;
      for (char c : e.key) sum += static_cast<unsigned char>(c);
      for (char c : e.etag) sum += static_cast<unsigned char>(c);
      (void)sum;
      return Status();
    };
    MalformedSink on_malformed = [&](const Error& e) {
      ++malformed;
      FUZZ_CHECK(e.kind == ErrorKind::kInvalidArgument && !e.message.empty());
    };
    auto stats = parse_manifest(text, "fuzz.csv", sink, lenient ? on_malformed : nullptr);
    if (stats.ok()) {
      FUZZ_CHECK(stats->entries == entries);
      FUZZ_CHECK(stats->malformed == malformed);
    } else {
      FUZZ_CHECK(!stats.error().message.empty());
    }
  }

  (void)parse_manifest_mtime(std::string_view(text).substr(0, 64));
  return 0;
}
