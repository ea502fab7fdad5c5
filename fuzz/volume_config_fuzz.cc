// shoald's volume config (daemon/volume_config.h) on arbitrary TOML text: toml++ parsing, then
// every table and key shoal checks, the [store] tables included. Bad input is an error naming
// the file; nothing may throw out of the parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/volume_config.h"
#include "fuzz/fuzz_check.h"

using namespace shoal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = parse_volume_config(text, "fuzz.toml");
  if (config.ok()) {
    FUZZ_CHECK(config->origin == "fuzz.toml");
  } else {
    FUZZ_CHECK(!config.error().message.empty());
  }
  (void)parse_size(text.substr(0, 32), "size");
  return 0;
}
