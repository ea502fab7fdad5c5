#include "writer/config.h"

#include "common/toml_config.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <regex>
#include <sstream>
#include <toml++/toml.h>

#include "store/uri.h"

namespace shoal {
namespace {

constexpr size_t kMaxSocketPath = 107;  // sun_path holds 108 bytes with the terminator

// Says where a key lives: "writer.toml: [retention] keep".
struct Where {
  std::string origin;
  std::string table;  // "" for the top level

  std::string at(std::string_view key) const {
    return origin + ": " + (table.empty() ? "" : "[" + table + "] ") + std::string(key);
  }
};

Result<std::string> read_string(const toml::node& v, const std::string& where) {
  const auto* s = v.as_string();
  if (s == nullptr) return config_error(where, "must be a string");
  return s->get();
}

Result<std::string> absolute_path(std::string path, const std::string& where) {
  if (path.empty() || path.front() != '/') return config_error(where, "must be an absolute path");
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

Result<std::string> read_absolute_path(const toml::node& v, const std::string& where) {
  SHOAL_ASSIGN(std::string path, read_string(v, where));
  return absolute_path(std::move(path), where);
}

Result<int64_t> read_positive(const toml::node& v, const std::string& where) {
  const auto* i = v.as_integer();
  if (i == nullptr || i->get() < 1) return config_error(where, "must be a positive integer");
  return i->get();
}

Result<uint64_t> read_size(const toml::node& v, const std::string& where) {
  if (const auto* i = v.as_integer()) {
    if (i->get() < 0) return config_error(where, "must not be negative");
    return static_cast<uint64_t>(i->get());
  }
  if (const auto* s = v.as_string()) {
    auto size = parse_byte_size(s->get());
    if (!size.ok()) return config_error(where, size.error().message);
    return *size;
  }
  return config_error(where, "must be a byte count or a size such as \"64MiB\"");
}

Result<std::vector<std::string>> read_strings(const toml::node& v, const std::string& where) {
  const auto* array = v.as_array();
  if (array == nullptr) return config_error(where, "must be an array of strings");
  std::vector<std::string> out;
  for (const auto& item : *array) {
    const auto* s = item.as_string();
    if (s == nullptr) return config_error(where, "must be an array of strings");
    out.push_back(s->get());
  }
  return out;
}

Result<std::vector<std::string>> read_paths(const toml::node& v, const std::string& where) {
  SHOAL_ASSIGN(auto items, read_strings(v, where));
  std::vector<std::string> out;
  for (const auto& item : items) {
    SHOAL_ASSIGN(std::string path, absolute_path(item, where));
    out.push_back(std::move(path));
  }
  return out;
}

// libstdc++'s std::regex reads a repetition count or back-reference number into a long with
// no overflow check (undefined behaviour, found by fuzzing), and compiles "x{n}" as n copies
// of x, so nested counts multiply the compiled size. Patterns are therefore kept within
// limits no generation pattern comes near. Returns why a pattern is refused, or "".
std::string regex_limit_violation(std::string_view pattern) {
  constexpr size_t kMaxLength = 256;
  constexpr size_t kMaxDigits = 4;
  constexpr uint64_t kMaxRepetitionProduct = 1000;
  if (pattern.size() > kMaxLength)
    return "is longer than " + std::to_string(kMaxLength) + " bytes";
  auto digits_at = [&](size_t i) {
    size_t n = 0;
    while (i + n < pattern.size() && std::isdigit(static_cast<unsigned char>(pattern[i + n]))) ++n;
    return n;
  };
  uint64_t product = 1;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\') {
      if (digits_at(i + 1) > kMaxDigits) return "has a back-reference number over 4 digits";
      ++i;
      continue;
    }
    if (pattern[i] != '{') continue;
    // {n}, {n,} or {n,m}: the largest count bounds how often the repeated part is copied.
    uint64_t largest = 0;
    size_t j = i + 1;
    for (int part = 0; part < 2 && j < pattern.size(); ++part) {
      size_t n = digits_at(j);
      if (n > kMaxDigits) return "has a repetition count over 4 digits";
      if (n > 0) {
        uint64_t count = std::stoull(std::string(pattern.substr(j, n)));
        largest = std::max(largest, count);
      }
      j += n;
      if (j >= pattern.size() || pattern[j] != ',') break;
      ++j;
    }
    product *= std::max<uint64_t>(largest, 1);
    if (product > kMaxRepetitionProduct) {
      return "repeats too much: its repetition counts multiply to more than " +
             std::to_string(kMaxRepetitionProduct);
    }
  }
  return "";
}

Result<RetentionConfig> read_retention(const toml::node& v, const Where& where) {
  const auto* table = v.as_table();
  if (table == nullptr) return config_error(where.at("retention"), "must be a table");
  Where in{where.origin, "retention"};
  RetentionConfig r;
  bool has_pattern = false;
  for (const auto& [key, node] : *table) {
    std::string at = in.at(key.str());
    if (key.str() == "keep") {
      SHOAL_ASSIGN(int64_t keep, read_positive(node, at));
      r.keep = static_cast<int>(std::min<int64_t>(keep, 1'000'000));
    } else if (key.str() == "pattern") {
      SHOAL_ASSIGN(r.pattern, read_string(node, at));
      has_pattern = true;
    } else {
      return config_error(at, "unknown setting");
    }
  }
  if (!has_pattern) return config_error(in.at("pattern"), "is required");
  if (std::string why = regex_limit_violation(r.pattern); !why.empty())
    return config_error(in.at("pattern"), why);
  try {
    std::regex re(r.pattern);
    if (re.mark_count() != 1)
      return config_error(in.at("pattern"), "must have exactly one capture group (the generation)");
  } catch (const std::regex_error& e) {
    return config_error(in.at("pattern"), std::string("is not a valid regex: ") + e.what());
  }
  return r;
}

Status apply_append_setting(std::string_view key, const toml::node& node, const std::string& at,
                            AppendStreamConfig& a) {
  if (key == "file") {
    SHOAL_ASSIGN(a.file, read_absolute_path(node, at));
  } else if (key == "key") {
    SHOAL_ASSIGN(a.key, read_string(node, at));
    if (a.key.empty() || a.key.front() == '/' || a.key.back() == '/')
      return config_error(at, "must be a relative object key without a leading or trailing '/'");
  } else if (key == "roll_size") {
    SHOAL_ASSIGN(a.roll_size, read_size(node, at));
    if (a.roll_size == 0) return config_error(at, "must be positive");
  } else if (key == "roll_seconds") {
    SHOAL_ASSIGN(int64_t s, read_positive(node, at));
    a.roll_interval = std::chrono::seconds(s);
  } else if (key == "poll_ms") {
    SHOAL_ASSIGN(int64_t ms, read_positive(node, at));
    a.poll_interval = std::chrono::milliseconds(ms);
  } else {
    return config_error(at, "unknown setting");
  }
  return {};
}

Result<std::vector<AppendStreamConfig>> read_append(const toml::node& v, const Where& where) {
  const auto* array = v.as_array();
  if (array == nullptr || !array->is_array_of_tables())
    return config_error(where.at("append"), "must be an array of tables ([[append]])");
  std::vector<AppendStreamConfig> out;
  for (size_t i = 0; i < array->size(); ++i) {
    Where in{where.origin, "append " + std::to_string(i + 1)};
    AppendStreamConfig a;
    for (const auto& [key, node] : *array->get(i)->as_table())
      SHOAL_TRY(apply_append_setting(key.str(), node, in.at(key.str()), a));
    if (a.file.empty()) return config_error(in.at("file"), "is required");
    if (a.key.empty()) return config_error(in.at("key"), "is required");
    out.push_back(std::move(a));
  }
  return out;
}

Result<ObjectUri> read_destination(const toml::node& v, const std::string& where) {
  SHOAL_ASSIGN(std::string text, read_string(v, where));
  auto uri = parse_object_uri(text);
  if (!uri.ok()) return config_error(where, uri.error().message);
  if (!uri->prefix.empty() && !uri->prefix.ends_with('/')) uri->prefix += '/';
  return *uri;
}

Status apply_tuning(std::string_view key, const toml::node& node, const std::string& at,
                    WriterConfig& c, bool& known) {
  known = true;
  if (key == "spool_budget") {
    SHOAL_ASSIGN(c.spool_budget, read_size(node, at));
  } else if (key == "multipart_threshold") {
    SHOAL_ASSIGN(c.multipart_threshold, read_size(node, at));
  } else if (key == "part_size") {
    SHOAL_ASSIGN(c.part_size, read_size(node, at));
  } else if (key == "parallel_uploads") {
    SHOAL_ASSIGN(int64_t n, read_positive(node, at));
    c.parallel_uploads = static_cast<int>(std::min<int64_t>(n, 1024));
  } else if (key == "parallel_parts") {
    SHOAL_ASSIGN(int64_t n, read_positive(node, at));
    c.parallel_parts = static_cast<int>(std::min<int64_t>(n, 1024));
  } else if (key == "retry_base_ms") {
    SHOAL_ASSIGN(int64_t ms, read_positive(node, at));
    c.retry_base = std::chrono::milliseconds(ms);
  } else if (key == "retry_cap_ms") {
    SHOAL_ASSIGN(int64_t ms, read_positive(node, at));
    c.retry_cap = std::chrono::milliseconds(ms);
  } else if (key == "ignore") {
    SHOAL_ASSIGN(c.ignore, read_strings(node, at));
  } else {
    known = false;
  }
  return {};
}

Status apply_top_level(std::string_view key, const toml::node& node, const Where& where,
                       WriterConfig& c, bool& has_destination) {
  std::string at = where.at(key);
  if (key == "store") return {};  // parsed by parse_store_settings
  if (key == "watch") {
    SHOAL_ASSIGN(c.watch, read_paths(node, at));
  } else if (key == "destination") {
    SHOAL_ASSIGN(c.destination, read_destination(node, at));
    has_destination = true;
  } else if (key == "journal") {
    SHOAL_ASSIGN(c.journal, read_absolute_path(node, at));
  } else if (key == "spool") {
    SHOAL_ASSIGN(c.spool, read_absolute_path(node, at));
  } else if (key == "control_socket") {
    SHOAL_ASSIGN(c.control_socket, read_absolute_path(node, at));
  } else if (key == "retention") {
    SHOAL_ASSIGN(c.retention, read_retention(node, where));
  } else if (key == "append") {
    SHOAL_ASSIGN(c.append, read_append(node, where));
  } else {
    bool known = false;
    SHOAL_TRY(apply_tuning(key, node, at, c, known));
    if (!known) return config_error(at, "unknown setting");
  }
  return {};
}

Status check_required(const WriterConfig& c, const Where& where, bool has_destination) {
  if (!has_destination) return config_error(where.at("destination"), "is required");
  if (c.journal.empty()) return config_error(where.at("journal"), "is required");
  if (c.spool.empty()) return config_error(where.at("spool"), "is required");
  if (c.control_socket.size() > kMaxSocketPath)
    return config_error(where.at("control_socket"),
                        "'" + c.control_socket + "' is longer than a Unix socket path may be (" +
                            std::to_string(kMaxSocketPath) + " bytes); set a shorter one");
  if (c.retry_cap < c.retry_base)
    return config_error(where.at("retry_cap_ms"), "must not be below retry_base_ms");
  for (const auto& dir : c.watch) {
    if (c.spool == dir || c.spool.starts_with(dir + "/"))
      return config_error(where.at("spool"), "must not lie inside the watched directory " + dir);
    if (c.journal.starts_with(dir + "/"))
      return config_error(where.at("journal"), "must not lie inside the watched directory " + dir);
  }
  return {};
}

}  // namespace

Result<uint64_t> parse_byte_size(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string_view unit = text.substr(digits);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  if (digits == 0 || digits > 15)
    return Error(ErrorKind::kInvalidArgument, "'" + std::string(text) + "' is not a size");
  uint64_t n = std::stoull(std::string(text.substr(0, digits)));
  static const std::pair<std::string_view, int> kUnits[] = {
      {"", 0},    {"B", 0},   {"K", 10},  {"KB", 10}, {"KiB", 10}, {"M", 20}, {"MB", 20},
      {"MiB", 20}, {"G", 30}, {"GB", 30}, {"GiB", 30}, {"T", 40},  {"TB", 40}, {"TiB", 40}};
  for (const auto& [name, shift] : kUnits) {
    if (unit != name) continue;
    if (shift > 0 && n > (UINT64_MAX >> shift))
      return Error(ErrorKind::kInvalidArgument, "'" + std::string(text) + "' is too large");
    return n << shift;
  }
  return Error(ErrorKind::kInvalidArgument,
               "'" + std::string(text) + "' has an unknown unit (use B, KiB, MiB, GiB or TiB)");
}

Result<WriterConfig> parse_writer_config(std::string_view toml_text, std::string_view origin) {
  SHOAL_ASSIGN(toml::table doc, parse_toml(toml_text, origin));
  WriterConfig c;
  c.origin = std::string(origin);
  Where where{c.origin, ""};
  bool has_destination = false;
  for (const auto& [key, node] : doc)
    SHOAL_TRY(apply_top_level(key.str(), node, where, c, has_destination));
  if (c.control_socket.empty() && !c.journal.empty()) c.control_socket = c.journal + ".sock";
  SHOAL_TRY(check_required(c, where, has_destination));
  SHOAL_ASSIGN(c.store, parse_store_settings(toml_text, origin, c.destination.scheme));
  return c;
}

Result<WriterConfig> load_writer_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno_error("read writer config " + path, errno);
  std::stringstream text;
  text << in.rdbuf();
  return parse_writer_config(text.str(), path);
}

std::string destination_key(const WriterConfig& config, std::string_view relative) {
  return config.destination.prefix + std::string(relative);
}

}  // namespace shoal
