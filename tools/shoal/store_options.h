// What every store-facing subcommand shares: the options that locate and configure a store,
// opening it from a URI argument, and the messages and exit codes of failures.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"
#include "store/blocking_store.h"
#include "tools/common/store_flags.h"

namespace shoal::cli {

inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

// The store flags (tools/common/store_flags.h) and the config file they override.
struct StoreOptions : StoreFlagValues {
  std::string config;
};

// --config, then the store flags: --endpoint, --region, --path-style / --virtual-hosted,
// --oss-v1.
void add_store_options(CLI::App& cmd, StoreOptions& options);

struct OpenedStore {
  ObjectUri uri;
  BlockingStore store;
};

// Parses the URI and opens its store; on failure prints the message and sets exit_code (2 for
// a bad URI, 1 for anything else).
std::optional<OpenedStore> open_from_args(std::string_view uri_text, const StoreOptions& options,
                                          int& exit_code);

// "shoal: <what failed>: <error>" on stderr; returns kExitFailed.
int report_failure(std::string_view what, const Error& error);
// "shoal: <message>" on stderr; returns kExitUsage.
int report_usage(std::string_view message);

// "2024-05-01 12:34:56" in UTC.
std::string format_utc(int64_t unix_ns);

}  // namespace shoal::cli
