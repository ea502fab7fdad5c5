#include "store/crc64.h"

#include <array>
#include <bit>
#include <cstring>

namespace shoal {
namespace {

constexpr uint64_t kPoly = 0xC96C5795D7870F42ull;

using Tables = std::array<std::array<uint64_t, 256>, 8>;

// Slice-by-8: tables[k][b] is the CRC contribution of byte b followed by k zero bytes, so
// eight input bytes fold into the CRC with eight lookups and no per-bit work.
constexpr Tables make_tables() {
  Tables t{};
  for (uint64_t b = 0; b < 256; ++b) {
    uint64_t crc = b;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ kPoly : crc >> 1;
    t[0][b] = crc;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (size_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
  }
  return t;
}

constexpr Tables kTables = make_tables();

uint64_t load_le64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

uint64_t fold8(uint64_t crc) {
  return kTables[7][crc & 0xff] ^ kTables[6][(crc >> 8) & 0xff] ^ kTables[5][(crc >> 16) & 0xff] ^
         kTables[4][(crc >> 24) & 0xff] ^ kTables[3][(crc >> 32) & 0xff] ^
         kTables[2][(crc >> 40) & 0xff] ^ kTables[1][(crc >> 48) & 0xff] ^ kTables[0][crc >> 56];
}

// GF(2) 64x64 matrices as 64 columns: the linear map "feed zero bits" on a CRC register.
using Matrix = std::array<uint64_t, 64>;

uint64_t times(const Matrix& m, uint64_t v) {
  uint64_t sum = 0;
  for (size_t i = 0; v != 0; ++i, v >>= 1) {
    if (v & 1) sum ^= m[i];
  }
  return sum;
}

Matrix squared(const Matrix& m) {
  Matrix out;
  for (size_t i = 0; i < 64; ++i) out[i] = times(m, m[i]);
  return out;
}

}  // namespace

uint64_t crc64_update(uint64_t crc, std::string_view data) {
  auto p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  crc = ~crc;
  for (; n >= 8; p += 8, n -= 8) crc = fold8(crc ^ load_le64(p));
  for (; n > 0; ++p, --n) crc = (crc >> 8) ^ kTables[0][(crc ^ *p) & 0xff];
  return ~crc;
}

// zlib's crc32_combine method: apply "len2 zero bytes" to crc1 by repeated squaring of the
// one-zero-bit operator; the all-ones init/xorout cancel out, leaving a plain xor with crc2.
uint64_t crc64_combine(uint64_t crc1, uint64_t crc2, uint64_t len2) {
  if (len2 == 0) return crc1;
  Matrix odd;  // one zero bit
  odd[0] = kPoly;
  for (size_t i = 1; i < 64; ++i) odd[i] = uint64_t{1} << (i - 1);
  Matrix even = squared(odd);  // two zero bits
  odd = squared(even);         // four zero bits
  // Each pass squares once more (first one byte, then two, four, …) and applies the
  // operator for every set bit of len2.
  while (true) {
    even = squared(odd);
    if (len2 & 1) crc1 = times(even, crc1);
    len2 >>= 1;
    if (len2 == 0) break;
    odd = squared(even);
    if (len2 & 1) crc1 = times(odd, crc1);
    len2 >>= 1;
    if (len2 == 0) break;
  }
  return crc1 ^ crc2;
}

}  // namespace shoal
