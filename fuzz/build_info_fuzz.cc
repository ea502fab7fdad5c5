// The index's build-info section decoder (index/build_info.h) on arbitrary bytes: what a
// damaged index file's last section holds. A decoded record re-encodes to bytes that decode
// to the same record.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "fuzz/fuzz_check.h"
#include "index/build_info.h"

using namespace shoal::index;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  auto info = decode_build_info(std::span<const char>(bytes.data(), bytes.size()));
  if (!info.ok()) {
    FUZZ_CHECK(!info.error().message.empty());
    return 0;
  }
  std::string encoded = encode_build_info(*info);
  auto again = decode_build_info(std::span<const char>(encoded.data(), encoded.size()));
  FUZZ_CHECK(again.ok() && *again == *info);
  (void)describe(*info);
  return 0;
}
