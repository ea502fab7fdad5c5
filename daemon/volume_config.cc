#include "daemon/volume_config.h"

#include "common/toml_config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <toml++/toml.h>

#include "daemon/metrics_server.h"
#include "store/config.h"

namespace shoal {
namespace {

Result<std::string> read_string(const toml::node& v, std::string_view where) {
  const auto* s = v.as_string();
  if (s == nullptr) return config_error(where, "must be a string");
  return s->get();
}

Result<bool> read_bool(const toml::node& v, std::string_view where) {
  const auto* b = v.as_boolean();
  if (b == nullptr) return config_error(where, "must be true or false");
  return b->get();
}

Result<int64_t> read_int(const toml::node& v, std::string_view where, int64_t min, int64_t max) {
  const auto* i = v.as_integer();
  if (i == nullptr || i->get() < min || i->get() > max)
    return config_error(where, "must be an integer between " + std::to_string(min) + " and " +
                                   std::to_string(max));
  return i->get();
}

Result<double> read_number(const toml::node& v, std::string_view where) {
  if (const auto* i = v.as_integer(); i != nullptr && i->get() >= 0)
    return static_cast<double>(i->get());
  if (const auto* f = v.as_floating_point(); f != nullptr && f->get() >= 0 && std::isfinite(f->get()))
    return f->get();
  return config_error(where, "must be a number, 0 or more");
}

// A size is either an integer count of bytes or a string with a unit ("4GiB").
Result<uint64_t> read_size(const toml::node& v, std::string_view where) {
  if (const auto* i = v.as_integer()) {
    if (i->get() < 0) return config_error(where, "must not be negative");
    return static_cast<uint64_t>(i->get());
  }
  if (const auto* s = v.as_string()) return parse_size(s->get(), where);
  return config_error(where, "must be a size such as \"4GiB\" or a number of bytes");
}

Status read_source(std::string_view key, const toml::node& v, std::string_view where,
                   VolumeConfig& c) {
  if (key != "uri") return config_error(where, "unknown key (known: uri)");
  SHOAL_ASSIGN(c.source, read_string(v, where));
  return {};
}

Status read_index(std::string_view key, const toml::node& v, std::string_view where,
                  VolumeConfig& c) {
  if (key != "path") return config_error(where, "unknown key (known: path)");
  SHOAL_ASSIGN(c.index_path, read_string(v, where));
  return {};
}

Status read_cache(std::string_view key, const toml::node& v, std::string_view where,
                  VolumeConfig& c) {
  if (key == "prefault") {
    SHOAL_ASSIGN(c.cache_prefault, read_bool(v, where));
    return {};
  }
  if (key != "memory") return config_error(where, "unknown key (known: memory, prefault)");
  SHOAL_ASSIGN(c.cache_memory, read_size(v, where));
  if (c.cache_memory == 0) return config_error(where, "must be more than 0");
  return {};
}

Status read_fetch(std::string_view key, const toml::node& v, std::string_view where,
                  VolumeConfig& c) {
  EngineOptions& e = c.engine;
  if (key == "whole_object_max") {
    SHOAL_ASSIGN(e.whole_object_max, read_size(v, where));
  } else if (key == "chunk_size") {
    SHOAL_ASSIGN(e.chunk_size, read_size(v, where));
  } else if (key == "max_inflight") {
    SHOAL_ASSIGN(int64_t n, read_int(v, where, 1, 65536));
    e.max_gets_in_flight = static_cast<int>(n);
  } else if (key == "rps") {
    SHOAL_ASSIGN(e.max_gets_per_second, read_number(v, where));
  } else {
    return config_error(where,
                        "unknown key (known: whole_object_max, chunk_size, max_inflight, rps)");
  }
  return {};
}

Status read_prefetch(std::string_view key, const toml::node& v, std::string_view where,
                     VolumeConfig& c) {
  EngineOptions& e = c.engine;
  if (key == "mode") {
    SHOAL_ASSIGN(std::string mode, read_string(v, where));
    auto parsed = parse_prefetch_mode(mode);
    if (!parsed.ok()) return config_error(where, parsed.error().message);
    e.prefetch = *parsed;
  } else if (key == "window" || key == "window_max" || key == "readahead_chunks") {
    SHOAL_ASSIGN(int64_t n, read_int(v, where, key == "readahead_chunks" ? 0 : 1, 65536));
    uint32_t& field = key == "window"       ? e.prefetch_window_initial
                      : key == "window_max" ? e.prefetch_window_max
                                            : e.readahead_chunks;
    field = static_cast<uint32_t>(n);
  } else if (key == "warm_all") {
    SHOAL_ASSIGN(e.warm_all, read_bool(v, where));
  } else if (key == "hints") {
    SHOAL_ASSIGN(c.hints_file, read_string(v, where));
  } else {
    return config_error(where, "unknown key (known: mode, window, window_max, readahead_chunks, "
                               "warm_all, hints)");
  }
  return {};
}

// The [frontend] keys come from the transport table: `kind` names a transport, every other
// key is some transport's setting (a key two transports share is applied to both).
Status read_frontend(std::string_view key, const toml::node& v, std::string_view where,
                     VolumeConfig& c) {
  if (key == "kind") {
    SHOAL_ASSIGN(c.frontend, read_string(v, where));
    std::string known = "\"auto\"";
    bool found = c.frontend == "auto";
    for (std::string_view name : frontend_names()) {
      known += ", \"" + std::string(name) + "\"";
      found = found || c.frontend == name;
    }
    if (!found) return config_error(where, "must be one of " + known);
    return {};
  }
  std::optional<SettingValue> value;
  std::string known = "kind";
  for (const FrontendSettingRef& ref : all_frontend_settings()) {
    const FrontendSetting& s = *ref.setting;
    if (s.toml_key.empty()) continue;
    if (known.find(", " + std::string(s.toml_key)) == std::string::npos)
      known += ", " + std::string(s.toml_key);
    if (s.toml_key != key) continue;
    if (!value) {
      switch (s.type) {
        case FrontendSetting::Type::kString: {
          SHOAL_ASSIGN(std::string text, read_string(v, where));
          value = std::move(text);
          break;
        }
        case FrontendSetting::Type::kInteger: {
          SHOAL_ASSIGN(int64_t n, read_int(v, where, s.min, s.max));
          value = n;
          break;
        }
        case FrontendSetting::Type::kBool: {
          SHOAL_ASSIGN(bool b, read_bool(v, where));
          value = b;
          break;
        }
      }
    }
    s.apply(c.frontend_options, *value);
  }
  if (!value) return config_error(where, "unknown key (known: " + known + ")");
  return {};
}

Status read_metrics(std::string_view key, const toml::node& v, std::string_view where,
                    VolumeConfig& c) {
  if (key != "listen") return config_error(where, "unknown key (known: listen)");
  SHOAL_ASSIGN(c.metrics_listen, read_string(v, where));
  if (c.metrics_listen.empty()) return {};
  auto address = parse_listen_address(c.metrics_listen);
  if (!address.ok()) return config_error(where, address.error().message);
  return {};
}

Status read_daemon(std::string_view key, const toml::node& v, std::string_view where,
                   VolumeConfig& c) {
  if (key != "workers") return config_error(where, "unknown key (known: workers)");
  SHOAL_ASSIGN(int64_t n, read_int(v, where, 1, WorkerOptions::kMaxWorkers));
  c.workers = static_cast<int>(n);
  return {};
}

Status read_control(std::string_view key, const toml::node& v, std::string_view where,
                    VolumeConfig& c) {
  if (key != "socket") return config_error(where, "unknown key (known: socket)");
  SHOAL_ASSIGN(c.control_socket, read_string(v, where));
  return {};
}

Status read_key(std::string_view table, std::string_view key, const toml::node& v,
                std::string_view where, VolumeConfig& c) {
  if (table == "source") return read_source(key, v, where, c);
  if (table == "index") return read_index(key, v, where, c);
  if (table == "cache") return read_cache(key, v, where, c);
  if (table == "fetch") return read_fetch(key, v, where, c);
  if (table == "prefetch") return read_prefetch(key, v, where, c);
  if (table == "frontend") return read_frontend(key, v, where, c);
  if (table == "metrics") return read_metrics(key, v, where, c);
  if (table == "daemon") return read_daemon(key, v, where, c);
  return read_control(key, v, where, c);
}

Status read_table(std::string_view name, const toml::node& node, std::string_view origin,
                  VolumeConfig& c) {
  const toml::table* table = node.as_table();
  if (table == nullptr) return config_error(origin, std::string(name) + " must be a table");
  for (const auto& [key, value] : *table) {
    std::string where = std::string(origin) + ": [" + std::string(name) + "] " +
                        std::string(key.str());
    SHOAL_TRY(read_key(name, key.str(), value, where, c));
  }
  return {};
}

bool is_volume_table(std::string_view name) {
  for (std::string_view t :
       {"source", "index", "cache", "fetch", "prefetch", "frontend", "metrics", "control",
        "daemon"}) {
    if (name == t) return true;
  }
  return false;
}

// store/config.h resolves [store] when the store is opened; checking it here for both
// schemes reports its mistakes before anything starts.
Status check_store_table(std::string_view text, std::string_view origin) {
  for (ObjectUri::Scheme scheme : {ObjectUri::Scheme::kS3, ObjectUri::Scheme::kOss}) {
    auto settings = parse_store_settings(text, origin, scheme);
    if (!settings.ok()) return std::move(settings).error();
  }
  return {};
}

uint64_t unit_multiplier(std::string unit) {
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  const std::pair<std::string_view, uint64_t> units[] = {
      {"", 1},           {"b", 1},           {"k", 1ull << 10},  {"ki", 1ull << 10},
      {"kib", 1ull << 10}, {"m", 1ull << 20}, {"mi", 1ull << 20}, {"mib", 1ull << 20},
      {"g", 1ull << 30}, {"gi", 1ull << 30}, {"gib", 1ull << 30}, {"t", 1ull << 40},
      {"ti", 1ull << 40}, {"tib", 1ull << 40}, {"kb", 1000},      {"mb", 1000'000},
      {"gb", 1000'000'000}, {"tb", 1000'000'000'000}};
  for (const auto& [name, multiplier] : units)
    if (unit == name) return multiplier;
  return 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<uint64_t> parse_size(std::string_view text, std::string_view what) {
  std::string_view s = trim(text);
  size_t number_end = 0;
  while (number_end < s.size() &&
         (std::isdigit(static_cast<unsigned char>(s[number_end])) || s[number_end] == '.'))
    ++number_end;
  auto bad = [&] {
    return config_error(what, "'" + std::string(text) +
                                  "' is not a size: write e.g. \"4GiB\", \"512MiB\", \"64k\" or "
                                  "a number of bytes");
  };
  double number = 0;
  std::string_view digits = s.substr(0, number_end);
  auto parsed = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  if (digits.empty() || parsed.ec != std::errc() || parsed.ptr != digits.data() + digits.size())
    return bad();
  uint64_t multiplier = unit_multiplier(std::string(trim(s.substr(number_end))));
  if (multiplier == 0) return bad();
  double bytes = std::floor(number * static_cast<double>(multiplier));
  if (bytes >= static_cast<double>(std::numeric_limits<uint64_t>::max()))
    return config_error(what, "'" + std::string(text) + "' is too large");
  return static_cast<uint64_t>(bytes);
}

Result<VolumeConfig> parse_volume_config(std::string_view toml_text, std::string_view origin) {
  SHOAL_ASSIGN(toml::table doc, parse_toml(toml_text, origin));
  VolumeConfig c;
  c.origin = std::string(origin);
  for (const auto& [name, node] : doc) {
    if (name.str() == "store") continue;
    if (!is_volume_table(name.str()))
      return config_error(origin, "unknown table or key '" + std::string(name.str()) +
                                      "' (tables: source, store, index, cache, fetch, prefetch, "
                                      "frontend, metrics, control, daemon)");
    SHOAL_TRY(read_table(name.str(), node, origin, c));
  }
  SHOAL_TRY(check_store_table(toml_text, origin));
  return c;
}

Result<VolumeConfig> load_volume_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno_error("config file " + path, errno);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return errno_error("reading config file " + path, errno);
  return parse_volume_config(text.str(), path);
}

}  // namespace shoal
