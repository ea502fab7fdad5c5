#include "store/hash.h"

#include <cstdio>
#include <cstdlib>

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace shoal {
namespace {

void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "shoal: OpenSSL %s failed (out of memory or a broken libcrypto)\n", what);
  std::abort();
}

std::string digest(const EVP_MD* md, std::string_view data) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  require(EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len,
                     md, nullptr) == 1,
          "EVP_Digest");
  out.resize(len);
  return out;
}

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  const unsigned char* result =
      HMAC(md, key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(),
           reinterpret_cast<unsigned char*>(out.data()), &len);
  require(result != nullptr, "HMAC");
  out.resize(len);
  return out;
}

}  // namespace

std::string sha256(std::string_view data) { return digest(EVP_sha256(), data); }
std::string sha256_hex(std::string_view data) { return hex_encode(sha256(data)); }
std::string md5(std::string_view data) { return digest(EVP_md5(), data); }

std::string hmac_sha256(std::string_view key, std::string_view data) {
  return hmac(EVP_sha256(), key, data);
}

std::string hmac_sha1(std::string_view key, std::string_view data) {
  return hmac(EVP_sha1(), key, data);
}

std::string hex_encode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  // EVP_EncodeBlock writes 4 characters per started 3-byte group plus a terminating NUL.
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(bytes.data()),
                            static_cast<int>(bytes.size()));
  require(len >= 0, "EVP_EncodeBlock");
  out.resize(static_cast<size_t>(len));
  return out;
}

void Digest::CtxFree::operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }

Digest::Digest(const EVP_MD* md) : md_(md), ctx_(EVP_MD_CTX_new()) {
  require(ctx_ != nullptr, "EVP_MD_CTX_new");
  require(EVP_DigestInit_ex(ctx_.get(), md_, nullptr) == 1, "EVP_DigestInit_ex");
}

Digest Digest::sha256() { return Digest(EVP_sha256()); }
Digest Digest::md5() { return Digest(EVP_md5()); }

void Digest::update(std::string_view data) {
  require(EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) == 1, "EVP_DigestUpdate");
}

std::string Digest::finish() {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  require(EVP_DigestFinal_ex(ctx_.get(), reinterpret_cast<unsigned char*>(out.data()), &len) == 1,
          "EVP_DigestFinal_ex");
  out.resize(len);
  require(EVP_DigestInit_ex(ctx_.get(), md_, nullptr) == 1, "EVP_DigestInit_ex");
  return out;
}

}  // namespace shoal
