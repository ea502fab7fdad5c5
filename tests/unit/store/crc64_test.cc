// CRC-64/ECMA as OSS reports it: the published vectors, a bit-by-bit reference on every
// length and alignment the slice-by-8 path can take, incremental updates and combine.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "store/crc64.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

const fs::path kVectorFile = fs::path(SHOAL_TESTVECTORS) / "oss-signing.json";

// The textbook definition, one bit at a time: what the table-driven code must equal.
uint64_t reference_crc64(std::string_view data) {
  uint64_t crc = ~uint64_t{0};
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 1) ? (crc >> 1) ^ 0xC96C5795D7870F42ull : crc >> 1;
    }
  }
  return ~crc;
}

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

TEST(Crc64, PublishedVectors) {
  std::ifstream in(kVectorFile);
  ASSERT_TRUE(in.good()) << "cannot read " << kVectorFile
                         << ": the test vectors live in tests/vectors (SHOAL_TESTVECTORS)";
  nlohmann::json cases = nlohmann::json::parse(in).at("crc64_ecma").at("cases");
  ASSERT_EQ(cases.size(), 4u);
  for (const auto& c : cases) {
    std::string input = c.at("input");
    uint64_t expected = std::stoull(c.at("crc").get<std::string>());
    EXPECT_EQ(crc64(input), expected) << "input \"" << input << "\"";
    EXPECT_EQ(reference_crc64(input), expected) << "input \"" << input << "\"";
  }
}

TEST(Crc64, MatchesBitwiseReferenceAtEveryLengthAndAlignment) {
  std::string data = random_bytes(300, 1);
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t len = 0; offset + len <= data.size(); ++len) {
      std::string_view piece = std::string_view(data).substr(offset, len);
      ASSERT_EQ(crc64(piece), reference_crc64(piece)) << "offset " << offset << " length " << len;
    }
  }
}

TEST(Crc64, IncrementalUpdateEqualsOneShot) {
  std::string data = random_bytes(100, 2);
  for (size_t split = 0; split <= data.size(); ++split) {
    std::string_view all(data);
    uint64_t crc = crc64_update(crc64(all.substr(0, split)), all.substr(split));
    EXPECT_EQ(crc, crc64(data)) << "split at " << split;
  }
}

TEST(Crc64, CombineEqualsTheCrcOfTheConcatenation) {
  const size_t kLengths[] = {0, 1, 7, 8, 9, 63, 64, 65, 1000, 4096, (1u << 20) + 3};
  uint64_t seed = 10;
  for (size_t len1 : kLengths) {
    for (size_t len2 : kLengths) {
      std::string a = random_bytes(len1, ++seed);
      std::string b = random_bytes(len2, ++seed);
      EXPECT_EQ(crc64_combine(crc64(a), crc64(b), b.size()), crc64(a + b))
          << "lengths " << len1 << " + " << len2;
    }
  }
}

TEST(Crc64, CombineChainsOverMultipartParts) {
  std::string parts[] = {random_bytes(5 << 20, 30), random_bytes(5 << 20, 31),
                         random_bytes(12345, 32)};
  uint64_t combined = 0;
  std::string whole;
  for (const std::string& part : parts) {
    combined = crc64_combine(combined, crc64(part), part.size());
    whole += part;
  }
  EXPECT_EQ(combined, crc64(whole));
}

}  // namespace
}  // namespace shoal
