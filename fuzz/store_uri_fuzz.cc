// Object-store URIs and percent-encoding (store/uri.h, store/url_encode.h, store/config.h):
// the source URI of a volume or index, a writer's destination, the endpoint of a config, and
// the keys of a url-encoded listing. A parsed URI prints back to one that parses equal; an
// encoded key decodes back to itself.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "store/config.h"
#include "store/uri.h"
#include "store/url_encode.h"

using namespace shoal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto uri = parse_object_uri(text); uri.ok()) {
    auto again = parse_object_uri(uri->to_string());
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->scheme == uri->scheme && again->bucket == uri->bucket &&
               again->prefix == uri->prefix);
  } else {
    FUZZ_CHECK(uri.error().kind == ErrorKind::kInvalidArgument);
  }

  for (bool plus_as_space : {false, true}) {
    if (auto decoded = uri_decode(text, plus_as_space); decoded.ok())
      FUZZ_CHECK(decoded->size() <= text.size());
  }
  for (bool slash : {false, true}) {
    std::string encoded = uri_encode(text, slash);
    auto decoded = uri_decode(encoded);
    FUZZ_CHECK(decoded.ok() && *decoded == text);
  }

  (void)normalize_endpoint(text);
  return 0;
}
