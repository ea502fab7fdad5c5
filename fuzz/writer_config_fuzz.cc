// The writer's config (writer/config.h) on arbitrary TOML text: toml++ parsing, the writer's
// keys, [retention] (its pattern is compiled as a regex), [[append]] and [store].
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "writer/config.h"

using namespace shoal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = parse_writer_config(text, "fuzz.toml");
  if (config.ok()) {
    for (const auto& path : config->watch) FUZZ_CHECK(!path.empty() && path.front() == '/');
    (void)destination_key(*config, "a/b");
  } else {
    FUZZ_CHECK(!config.error().message.empty());
  }
  (void)parse_byte_size(text.substr(0, 32));
  return 0;
}
