// Digests, HMACs and byte encodings for request signing and integrity checks, on OpenSSL EVP.
// OpenSSL fails these only when it cannot allocate memory or is itself broken, so a failure
// aborts with a message instead of turning every signing step into a Result.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <openssl/types.h>

namespace shoal {

std::string sha256(std::string_view data);      // raw 32 bytes
std::string sha256_hex(std::string_view data);  // lower-case hex
std::string md5(std::string_view data);         // raw 16 bytes (Content-MD5 is its base64)
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw 32 bytes
std::string hmac_sha1(std::string_view key, std::string_view data);    // raw 20 bytes

std::string hex_encode(std::string_view bytes);     // lower-case
std::string base64_encode(std::string_view bytes);  // standard alphabet, padded, one line

// A digest fed in pieces: a file body read chunk by chunk is never held whole.
class Digest {
 public:
  static Digest sha256();
  static Digest md5();

  void update(std::string_view data);
  // The raw digest of everything fed so far; the digest starts over afterwards.
  std::string finish();

 private:
  struct CtxFree {
    void operator()(EVP_MD_CTX* ctx) const;
  };
  explicit Digest(const EVP_MD* md);

  const EVP_MD* md_;
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx_;
};

}  // namespace shoal
