// shoal ls URI [--recursive]: lists like `aws s3 ls`. Without --recursive, one level below
// the URI's prefix: "PRE name/" for common prefixes, then date, size and name for objects,
// names relative to the prefix's directory. With --recursive, every object and its full key.
#include <cinttypes>
#include <cstdio>
#include <memory>

#include "tools/shoal/commands.h"
#include "tools/shoal/store_options.h"

namespace shoal::cli {
namespace {

struct LsOptions {
  std::string uri;
  bool recursive = false;
  StoreOptions store;
};

struct Line {
  std::string key;  // sorts the lines of a page into key order
  std::string text;
};

std::vector<Line> page_lines(const ListPage& page, size_t strip) {
  std::vector<Line> lines;
  for (const std::string& p : page.common_prefixes) {
    char head[40];
    std::snprintf(head, sizeof head, "%30s ", "PRE");
    lines.push_back({p, head + p.substr(strip)});
  }
  for (const ObjectInfo& o : page.objects) {
    char head[64];
    std::snprintf(head, sizeof head, "%s %10" PRIu64 " ", format_utc(o.mtime_ns).c_str(), o.size);
    lines.push_back({o.key, head + o.key.substr(strip)});
  }
  std::sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) { return a.key < b.key; });
  return lines;
}

int run_ls(const LsOptions& o) {
  int exit_code = 0;
  auto opened = open_from_args(o.uri, o.store, exit_code);
  if (!opened) return exit_code;
  const std::string& prefix = opened->uri.prefix;
  ListQuery query{.prefix = prefix, .delimiter = o.recursive ? "" : "/"};
  size_t strip = o.recursive ? 0 : prefix.rfind('/') + 1;  // npos + 1 == 0
  Status listed = opened->store.list_all(query, [&](const ListPage& page) -> Status {
    for (const Line& line : page_lines(page, strip)) std::printf("%s\n", line.text.c_str());
    if (std::fflush(stdout) != 0) return errno_error("write to stdout", errno);
    return {};
  });
  if (!listed.ok()) return report_failure("list " + opened->uri.to_string(), listed.error());
  return 0;
}

}  // namespace

void register_ls(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<LsOptions>();
  CLI::App* cmd = app.add_subcommand("ls", "List objects and common prefixes under a URI");
  cmd->add_option("URI", options->uri, "oss://bucket/prefix, s3://bucket/prefix or file:///dir/")
      ->required();
  cmd->add_flag("-r,--recursive", options->recursive, "List every object below the prefix");
  add_store_options(*cmd, options->store);
  cmd->callback([options, &exit_code] { exit_code = run_ls(*options); });
}

}  // namespace shoal::cli
