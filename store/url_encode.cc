#include "store/url_encode.h"

#include <optional>

namespace shoal {
namespace {

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

std::optional<int> hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return std::nullopt;
}

}  // namespace

std::string uri_encode(std::string_view s, bool encode_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (is_unreserved(c) || (c == '/' && !encode_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0xf]);
    }
  }
  return out;
}

Result<std::string> uri_decode(std::string_view s, bool plus_as_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+' && plus_as_space) {
      out.push_back(' ');
    } else if (s[i] != '%') {
      out.push_back(s[i]);
    } else {
      std::optional<int> hi = i + 1 < s.size() ? hex_value(s[i + 1]) : std::nullopt;
      std::optional<int> lo = i + 2 < s.size() ? hex_value(s[i + 2]) : std::nullopt;
      if (!hi || !lo) {
        return Error(ErrorKind::kInvalidArgument,
                     "malformed percent-escape at offset " + std::to_string(i) + " in \"" +
                         std::string(s) + "\": '%' must be followed by two hex digits");
      }
      out.push_back(static_cast<char>(*hi * 16 + *lo));
      i += 2;
    }
  }
  return out;
}

std::string request_target(const HttpRequest& req) {
  std::string target = req.path.empty() ? "/" : uri_encode(req.path, false);
  char separator = '?';
  for (const auto& [key, value] : req.query) {
    target.push_back(separator);
    separator = '&';
    target += uri_encode(key, true);
    if (!value.empty()) {
      target.push_back('=');
      target += uri_encode(value, true);
    }
  }
  return target;
}

}  // namespace shoal
