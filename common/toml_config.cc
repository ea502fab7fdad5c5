#include "common/toml_config.h"

#include <string>

namespace shoal {

Error config_error(std::string_view where, std::string_view what) {
  return Error(ErrorKind::kInvalidArgument, std::string(where) + ": " + std::string(what));
}

Result<toml::table> parse_toml(std::string_view text, std::string_view origin) {
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return config_error(origin, "line " + std::to_string(at.line) + ", column " +
                                    std::to_string(at.column) + ": " +
                                    std::string(e.description()));
  }
}

}  // namespace shoal
