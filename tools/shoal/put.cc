// shoal put FILE URI: uploads a local file as one object — one PUT when small, a multipart
// upload with parts in parallel when large (store/transfer.h), read from disk as it is sent.
// A URI ending in '/' (or naming a bucket only) gets the file's name appended.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <optional>

#include "common/blocking_pool.h"
#include "store/transfer.h"
#include "tools/shoal/commands.h"
#include "tools/shoal/store_options.h"

namespace shoal::cli {
namespace {

struct PutOptions {
  std::string file;
  std::string uri;
  uint64_t part_size_mib = 0;
  int parallel = 4;
  StoreOptions store;
};

Result<PutReply> upload(BlockingStore& store, const std::string& file, const std::string& key,
                        const PutOptions& o) {
  UploadOptions options;
  options.part_size = o.part_size_mib << 20;
  options.parallel_parts = o.parallel;
  if (::isatty(STDERR_FILENO))
    options.progress = [](uint64_t done, uint64_t total) {
      std::fprintf(stderr, "\r\033[Kput: %" PRIu64 " / %" PRIu64 " MiB", done >> 20, total >> 20);
    };
  bool progress = static_cast<bool>(options.progress);
  Result<PutReply> result = upload_file_and_wait(store, file, key, std::move(options));
  if (progress) std::fprintf(stderr, "\r\033[K");
  return result;
}

Result<uint64_t> regular_file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno_error(path, errno);
  if (!S_ISREG(st.st_mode)) return Error(ErrorKind::kInvalidArgument, path + " is not a file");
  return static_cast<uint64_t>(st.st_size);
}

std::string base_name(const std::string& path) { return path.substr(path.rfind('/') + 1); }

int run_put(const PutOptions& o) {
  int exit_code = 0;
  auto opened = open_from_args(o.uri, o.store, exit_code);
  if (!opened) return exit_code;
  ObjectUri& target = opened->uri;
  if (target.prefix.empty() || target.prefix.ends_with('/')) target.prefix += base_name(o.file);
  auto size = regular_file_size(o.file);
  if (!size.ok()) return report_failure("put " + o.file, size.error());
  auto put = upload(opened->store, o.file, target.prefix, o);
  if (!put.ok()) return report_failure("put " + target.to_string(), put.error());
  std::printf("put %s (%" PRIu64 " bytes, etag %s)\n", target.to_string().c_str(), *size,
              put->etag.c_str());
  return 0;
}

}  // namespace

void register_put(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<PutOptions>();
  CLI::App* cmd = app.add_subcommand("put", "Upload a local file as one object (multipart when large)");
  cmd->add_option("FILE", options->file, "The local file to upload")->required();
  cmd->add_option("URI", options->uri,
                  "Where to: s3://bucket/key, or s3://bucket/dir/ to keep the file's name")
      ->required();
  cmd->add_option("--part-size", options->part_size_mib,
                  "Multipart part size in MiB (default: chosen from the file size)");
  cmd->add_option("--parallel", options->parallel, "Parts uploaded at once")
      ->capture_default_str()->check(CLI::Range(1, 64));
  add_store_options(*cmd, options->store);
  cmd->callback([options, &exit_code] { exit_code = run_put(*options); });
}

}  // namespace shoal::cli
