// The command-line flags that locate and configure an object store, declared once for every
// program that talks to one (`shoal`'s subcommands, `shoal mount`, `shoald`):
//   --endpoint URL, --region NAME, --path-style | --virtual-hosted, --oss-v1
// and their translation into StoreFlags (store/config.h), resolved against the config file and
// the environment. (mount/ hands a StoreFlags back to shoald as these flags.)
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "store/config.h"

namespace shoal::cli {

struct StoreFlagValues {
  std::string endpoint;
  std::string region;
  bool path_style = false;
  bool virtual_hosted = false;
  bool oss_v1 = false;
};

// Declares the flags on `app` (--path-style and --virtual-hosted exclude each other).
void add_store_flags(CLI::App& app, StoreFlagValues& values);

// The flags given, over `config_path` (empty: no config file).
StoreFlags to_store_flags(const StoreFlagValues& values, const std::string& config_path);

}  // namespace shoal::cli
