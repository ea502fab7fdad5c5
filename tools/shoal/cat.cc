// shoal cat URI [--range A-B]: writes an object's bytes (or the inclusive byte range A-B, or
// A- to the end) to stdout. Large objects are fetched in chunks, each pinned to the ETag the
// first answer had, so a concurrent overwrite fails instead of splicing two versions.
#include <cstdio>
#include <memory>
#include <optional>

#include "tools/shoal/commands.h"
#include "tools/shoal/store_options.h"

namespace shoal::cli {
namespace {

constexpr uint64_t kChunk = 8ull << 20;

struct CatOptions {
  std::string uri;
  std::string range;
  StoreOptions store;
};

struct InclusiveRange {
  uint64_t first = 0;
  std::optional<uint64_t> last;
};

std::optional<uint64_t> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  return std::stoull(std::string(s));
}

std::optional<InclusiveRange> parse_range(std::string_view text) {
  size_t dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto first = parse_number(text.substr(0, dash));
  if (!first) return std::nullopt;
  std::string_view tail = text.substr(dash + 1);
  if (tail.empty()) return InclusiveRange{*first, std::nullopt};
  auto last = parse_number(tail);
  if (!last || *last < *first) return std::nullopt;
  return InclusiveRange{*first, last};
}

Status write_out(const std::string& data) {
  if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size() || std::fflush(stdout) != 0)
    return errno_error("write to stdout", errno);
  return {};
}

// Fetches the range chunk by chunk (the whole object when none was asked for). With a range,
// the first request is always made, so a start past the end gets the store's own error.
Status stream(BlockingStore& store, const std::string& key, std::optional<InclusiveRange> asked) {
  SHOAL_ASSIGN(ObjectInfo info, store.head(key));
  if (!asked && info.size == 0) return {};
  InclusiveRange range = asked.value_or(InclusiveRange{});
  uint64_t end = range.last ? std::min(*range.last + 1, info.size) : info.size;
  bool pin = store.async().capabilities().if_match;
  uint64_t offset = range.first;
  do {
    uint64_t length = offset < end ? std::min(kChunk, end - offset) : 1;
    GetQuery q{.key = key, .range = ByteRange{offset, length}, .if_match = pin ? info.etag : ""};
    SHOAL_ASSIGN(GetReply reply, store.get(std::move(q)));
    if (reply.info.etag != info.etag)
      return Error(ErrorKind::kPreconditionFailed, key + " changed while being read");
    if (reply.data.empty())
      return Error(ErrorKind::kIntegrity,
                   "the store answered no bytes at offset " + std::to_string(offset));
    SHOAL_TRY(write_out(reply.data));
    offset += reply.data.size();
  } while (offset < end);
  return {};
}

int run_cat(const CatOptions& o) {
  std::optional<InclusiveRange> range;
  if (!o.range.empty()) {
    auto parsed = parse_range(o.range);
    if (!parsed) return report_usage("bad --range '" + o.range + "': expected A-B or A- (bytes)");
    range = parsed;
  }
  int exit_code = 0;
  auto opened = open_from_args(o.uri, o.store, exit_code);
  if (!opened) return exit_code;
  const std::string& key = opened->uri.prefix;
  if (key.empty() || key.ends_with('/'))
    return report_usage(opened->uri.to_string() + " names no object");
  Status s = stream(opened->store, key, range);
  if (!s.ok()) return report_failure("cat " + opened->uri.to_string(), s.error());
  return 0;
}

}  // namespace

void register_cat(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<CatOptions>();
  CLI::App* cmd = app.add_subcommand("cat", "Write an object's bytes to stdout");
  cmd->add_option("URI", options->uri, "The object, e.g. s3://bucket/key or file:///dir/file")
      ->required();
  cmd->add_option("--range", options->range,
                  "Bytes A to B inclusive (A-B), or from A to the end (A-)");
  add_store_options(*cmd, options->store);
  cmd->callback([options, &exit_code] { exit_code = run_cat(*options); });
}

}  // namespace shoal::cli
