// The control protocol's codec (common/control.h) on arbitrary bytes: a request line as the
// server reads it from a client, and a reply as a client reads it from a server. Whatever
// decodes must encode back to something that decodes to the same value.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/control.h"
#include "fuzz/fuzz_check.h"

using namespace shoal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  std::string_view line = text.substr(0, text.find('\n'));
  if (auto words = decode_control_line(line); words.ok()) {
    FUZZ_CHECK(!words->empty());
    std::string encoded = encode_control_line(*words);
    FUZZ_CHECK(encoded.back() == '\n');
    auto again = decode_control_line(std::string_view(encoded).substr(0, encoded.size() - 1));
    FUZZ_CHECK(again.ok() && *again == *words);
  }

  for (bool value : {false, true}) {
    auto decoded = value ? decode_control_value(text) : decode_control_word(text);
    if (!decoded.ok()) continue;
    std::string encoded = value ? encode_control_value(*decoded) : encode_control_word(*decoded);
    FUZZ_CHECK(encoded.find('\n') == std::string::npos);
    FUZZ_CHECK(value || encoded.find(' ') == std::string::npos);
    auto again = value ? decode_control_value(encoded) : decode_control_word(encoded);
    FUZZ_CHECK(again.ok() && *again == *decoded);
  }

  if (auto reply = decode_control_reply(text); reply.ok()) {
    auto again = decode_control_reply(encode_control_reply(*reply));
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->ok == reply->ok && again->error == reply->error);
    FUZZ_CHECK(again->fields == reply->fields && again->body == reply->body);
  }
  return 0;
}
