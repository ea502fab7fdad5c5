#include "index/erofs/format.h"

#include <array>
#include <cstring>

namespace shoal::index::erofs {
namespace {

constexpr uint32_t kCrc32cPolynomialReflected = 0x82F63B78;

constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 1) ? (crc >> 1) ^ kCrc32cPolynomialReflected : crc >> 1;
    }
    table[i] = crc;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kCrc32cTable = make_crc32c_table();

}  // namespace

uint32_t crc32c(uint32_t crc, std::span<const uint8_t> data) {
  for (uint8_t byte : data) crc = kCrc32cTable[(crc ^ byte) & 0xFF] ^ (crc >> 8);
  return crc;
}

uint32_t super_block_checksum(std::span<const uint8_t, kBlockSize> first_block) {
  std::array<uint8_t, kBlockSize - kSuperBlockOffset> copy{};
  std::memcpy(copy.data(), first_block.data() + kSuperBlockOffset, copy.size());
  std::memset(copy.data() + offsetof(SuperBlock, checksum), 0, sizeof(uint32_t));
  return crc32c(~0u, copy);
}

}  // namespace shoal::index::erofs
