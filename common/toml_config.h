// What the TOML config readers (store, volume, writer) share: parsing with a message that
// names the file, line and column, and errors that say where a bad setting lives.
#pragma once

#include <toml++/toml.h>

#include <string_view>

#include "common/result.h"

namespace shoal {

// kInvalidArgument "<where>: <what>", where `where` names the file and key.
Error config_error(std::string_view where, std::string_view what);

// Parses TOML text; a syntax error names `origin` (the file) with its line and column.
Result<toml::table> parse_toml(std::string_view text, std::string_view origin);

}  // namespace shoal
