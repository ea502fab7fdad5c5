// shoal index build|info|ls|verify|export: build a volume's index and look inside one.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "common/fd_io.h"
#include "daemon/cache/memory_cache.h"
#include "daemon/engine/engine.h"
#include "daemon/metrics.h"
#include "common/unique_fd.h"
#include "index/builder.h"
#include "index/erofs/metadata_reader.h"
#include "index/index_file.h"
#include "store/transfer.h"
#include "store/uri.h"
#include "tools/shoal/commands.h"
#include "tools/shoal/store_options.h"

namespace shoal::cli {
namespace {

using index::IndexFile;
namespace fs = std::filesystem;

struct IndexOptions {
  std::string uri;
  std::string output;
  std::string manifest;
  std::string inventory;
  bool keep_mtime = false;
  int list_concurrency = 16;
  std::string file;
  std::string path;
  std::string image;
  int fetch_concurrency = 16;
  StoreOptions store;
};

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) { v /= 1024; ++u; }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// One status line redrawn in place on a terminal; silent when stderr is a file or pipe.
void print_progress(const index::BuildProgress& p) {
  if (!::isatty(STDERR_FILENO)) return;
  double s = seconds(p.elapsed);
  std::fprintf(stderr, "\r\033[K%s: %llu objects, %llu requests, %.0f objects/s, %.1f s", p.phase,
               static_cast<unsigned long long>(p.objects),
               static_cast<unsigned long long>(p.requests), s > 0 ? p.objects / s : 0.0, s);
}

void end_progress() {
  if (::isatty(STDERR_FILENO)) std::fprintf(stderr, "\r\033[K");
}

void print_report(const index::BuildReport& r, const std::string& out) {
  std::printf("index %s: %llu objects → %llu files in %llu directories, %llu skipped\n",
              out.c_str(), static_cast<unsigned long long>(r.objects),
              static_cast<unsigned long long>(r.files),
              static_cast<unsigned long long>(r.directories),
              static_cast<unsigned long long>(r.skipped.size()));
  std::printf("  device %s (data %s), index file %s (%.0f B/object), %llu list requests, %.2f s\n",
              human_bytes(r.device_bytes).c_str(), human_bytes(r.data_bytes).c_str(),
              human_bytes(r.index_bytes).c_str(),
              r.objects ? static_cast<double>(r.index_bytes) / static_cast<double>(r.objects) : 0.0,
              static_cast<unsigned long long>(r.list_requests), seconds(r.elapsed));
  if (r.outside_prefix)
    std::printf("  %llu manifest rows outside the prefix were ignored\n",
                static_cast<unsigned long long>(r.outside_prefix));
  size_t shown = 0;
  for (const index::SkippedKey& s : r.skipped) {
    if (++shown > 20) {
      std::printf("  … %zu more skipped keys: see `shoal index info %s`\n", r.skipped.size() - 20,
                  out.c_str());
      break;
    }
    std::printf("  skipped (%s): %s\n", std::string(to_string(s.reason)).c_str(), s.key.c_str());
  }
}

// An inventory report's manifest.json and where its data files come from: the report's store
// when the manifest is given as a URI, else the local tree a downloaded report was copied to.
struct InventorySource {
  std::string name;
  std::string json;
  index::InventoryFetch fetch;
  std::shared_ptr<OpenedStore> store;  // kept alive for `fetch`
};

Result<std::string> read_local(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error("open " + path.string(), errno);
  return read_to_end(fd.get(), "reading " + path.string());
}

// A data file's key names it in the report's destination bucket
// (`<prefix>/<bucket>/<config>/data/x.csv.gz`). A report copied to disk keeps some tail of that
// layout: the key is looked for under each directory from the manifest's up to the root, then
// beside the manifest and in a data/ directory next to it.
Result<std::string> read_local_data_file(const fs::path& manifest, const std::string& key) {
  fs::path dir = fs::absolute(manifest).parent_path();
  std::vector<fs::path> tried;
  for (fs::path at = dir;; at = at.parent_path()) {
    tried.push_back(at / key);
    if (at == at.parent_path()) break;
  }
  fs::path name = fs::path(key).filename();
  tried.push_back(dir / name);
  tried.push_back(dir.parent_path() / "data" / name);
  for (const fs::path& p : tried) {
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return read_local(p);
  }
  return Error(ErrorKind::kNotFound,
               "inventory data file " + key + " is not beside manifest " + manifest.string() +
                   " (looked for " + tried.front().string() + ", its parents' " + key + ", " +
                   (dir / name).string() + " and " + (dir.parent_path() / "data" / name).string() +
                   "): copy the whole report, or give the manifest's store URI");
}

std::optional<InventorySource> open_inventory(const IndexOptions& o, int& exit_code) {
  InventorySource source;
  source.name = o.inventory;
  if (o.inventory.find("://") == std::string::npos) {
    Result<std::string> json = read_local(o.inventory);
    if (!json.ok()) {
      exit_code = report_failure("index build: inventory", json.error());
      return std::nullopt;
    }
    source.json = std::move(*json);
    fs::path manifest = o.inventory;
    source.fetch = [manifest](const std::string& key) {
      return read_local_data_file(manifest, key);
    };
    return source;
  }
  std::optional<OpenedStore> opened = open_from_args(o.inventory, o.store, exit_code);
  if (!opened) return std::nullopt;
  source.store = std::make_shared<OpenedStore>(std::move(*opened));
  auto get = [store = source.store](const std::string& key) -> Result<std::string> {
    Result<GetReply> reply = store->store.get(GetQuery{key, std::nullopt, "", {}});
    if (!reply.ok()) return std::move(reply).error();
    return std::move(reply->data);
  };
  Result<std::string> json = get(source.store->uri.prefix);
  if (!json.ok()) {
    exit_code = report_failure("index build: inventory " + o.inventory, json.error());
    return std::nullopt;
  }
  source.json = std::move(*json);
  source.fetch = get;
  return source;
}

int run_build(const IndexOptions& o) {
  auto uri = parse_object_uri(o.uri);
  if (!uri.ok()) return report_usage(uri.error().message);
  index::BuildOptions build;
  build.source = uri->to_string();
  build.prefix = index::directory_prefix(uri->prefix);
  build.keep_mtime = o.keep_mtime;
  build.list_concurrency = o.list_concurrency;
  build.progress = print_progress;

  index::ObjectCollector objects;
  index::BuildProgress progress;
  Status collected;
  if (!o.manifest.empty()) {
    collected = index::read_manifest(o.manifest, build, objects, progress);
  } else if (!o.inventory.empty()) {
    int exit_code = 0;
    std::optional<InventorySource> source = open_inventory(o, exit_code);
    if (!source) return exit_code;
    collected = index::read_inventory(source->json, source->name, uri->bucket, source->fetch,
                                      build, objects, progress);
  } else {
    int exit_code = 0;
    auto opened = open_from_args(o.uri, o.store, exit_code);
    if (!opened) return exit_code;
    collected = index::list_parallel(opened->store.async(), opened->store.reactor(), build,
                                     objects, progress);
  }
  if (!collected.ok()) {
    end_progress();
    return report_failure("index build " + build.source, collected.error());
  }
  // An index for a fleet goes to the bucket: written here first, then uploaded in one piece
  // (a PUT or a completed multipart upload), so no reader ever sees part of it under its key.
  bool to_store = o.output.find("://") != std::string::npos;
  std::optional<OpenedStore> destination;
  std::string local = o.output;
  if (to_store) {
    int exit_code = 0;
    destination = open_from_args(o.output, o.store, exit_code);
    if (!destination) return exit_code;
    if (destination->uri.prefix.empty() || destination->uri.prefix.back() == '/')
      return report_usage("-o " + o.output + " names no object: give the index's key");
    char tmpl[] = "/tmp/shoal-index-XXXXXX";
    int fd = ::mkstemp(tmpl);
    if (fd < 0)
      return report_failure("index build", errno_error("creating a temporary file", errno));
    ::close(fd);
    local = tmpl;
  }
  auto report = index::write_index(objects, build, local, progress);
  end_progress();
  if (!report.ok()) {
    if (to_store) ::unlink(local.c_str());
    return report_failure("index build " + build.source, report.error());
  }
  if (to_store) {
    Result<PutReply> put =
        upload_file_and_wait(destination->store, local, destination->uri.prefix, UploadOptions{});
    ::unlink(local.c_str());
    if (!put.ok()) return report_failure("index build: uploading to " + o.output, put.error());
  }
  print_report(*report, o.output);
  return 0;
}

Result<IndexFile> open_index(const std::string& path) { return IndexFile::open(path); }

int run_info(const IndexOptions& o) {
  auto file = open_index(o.file);
  if (!file.ok()) return report_failure("index info", file.error());
  const index::IndexSummary& s = file->summary();
  std::printf("index:      %s (SHIX v%u, %s)\n", o.file.c_str(), index::kFormatVersion,
              human_bytes(file->file_bytes()).c_str());
  std::printf("device:     %s (%llu blocks, %u of EROFS metadata)\n",
              human_bytes(file->device_bytes()).c_str(),
              static_cast<unsigned long long>(s.device_blocks), s.metadata_blocks);
  std::printf("objects:    %llu (%llu with data)\n", static_cast<unsigned long long>(s.object_count),
              static_cast<unsigned long long>(s.extent_count));
  std::string info = index::describe(file->build_info());
  std::fwrite(info.data(), 1, info.size(), stdout);
  return 0;
}

// Lists a directory the way the kernel will see it: through the index's EROFS metadata, so
// the answer costs one directory's entries, not a scan of every object. Directories first,
// marked with '/', then files with their sizes, each group in EROFS (byte) order.
Status list_directory(const IndexFile& file, const std::string& path) {
  SHOAL_ASSIGN(auto reader, index::erofs::MetadataReader::open(file.metadata()));
  SHOAL_ASSIGN(index::erofs::InodeInfo dir, reader.lookup(path));
  if (!dir.is_directory())
    return Error(ErrorKind::kInvalidArgument, "/" + path + " is a file, not a directory");
  SHOAL_ASSIGN(auto entries, reader.list(dir));
  for (const index::erofs::DirectoryEntry& e : entries)
    if (e.file_type == index::erofs::kFileTypeDirectory && e.name != "." && e.name != "..")
      std::printf("%12s  %.*s/\n", "DIR", static_cast<int>(e.name.size()), e.name.data());
  for (const index::erofs::DirectoryEntry& e : entries) {
    if (e.file_type == index::erofs::kFileTypeDirectory) continue;
    SHOAL_ASSIGN(index::erofs::InodeInfo inode, reader.inode(e.nid));
    std::printf("%12llu  %.*s\n", static_cast<unsigned long long>(inode.size),
                static_cast<int>(e.name.size()), e.name.data());
  }
  return {};
}

int run_ls(const IndexOptions& o) {
  auto file = open_index(o.file);
  if (!file.ok()) return report_failure("index ls", file.error());
  std::string dir = o.path;
  while (!dir.empty() && dir.front() == '/') dir.erase(0, 1);
  while (!dir.empty() && dir.back() == '/') dir.pop_back();
  Status listed = list_directory(*file, dir);
  if (!listed.ok()) return report_failure("index ls " + o.file, listed.error());
  return 0;
}

int run_verify(const IndexOptions& o) {
  auto file = open_index(o.file);
  if (!file.ok()) return report_failure("index verify", file.error());
  Status entries = file->check_entries();
  if (!entries.ok()) return report_failure("index verify " + o.file, entries.error());
  std::printf("%s: ok (header, %d section checksums, %llu extents, %llu objects)\n",
              o.file.c_str(), 5, static_cast<unsigned long long>(file->summary().extent_count),
              static_cast<unsigned long long>(file->summary().object_count));
  return 0;
}

bool all_zero(const char* data, size_t n) {
  static const std::string zeros(1u << 20, '\0');
  for (size_t at = 0; at < n; at += zeros.size()) {
    size_t m = std::min(zeros.size(), n - at);
    if (std::memcmp(data + at, zeros.data(), m) != 0) return false;
  }
  return true;
}

// Reads the whole device through the block engine — the same fetch units, version pin and
// checks a mount serves with — `concurrency` reads of 8 MiB in flight, and writes each at its
// offset. All-zero pieces are not written, so sparse objects and holes stay sparse.
Status export_device(const IndexFile& file, BlockingStore& store, int fd, int concurrency) {
  constexpr uint64_t kPiece = 8ull << 20;
  SHOAL_ASSIGN(std::unique_ptr<MemoryCache> cache,
               MemoryCache::create(std::max<uint64_t>(256ull << 20, 4 * kPiece)));
  Metrics metrics;
  EngineOptions options;
  options.prefetch = PrefetchMode::kNone;  // the reads themselves keep the store busy
  options.log = [](std::string_view line) {
    std::fprintf(stderr, "shoal: %.*s\n", static_cast<int>(line.size()), line.data());
  };
  SHOAL_ASSIGN(std::unique_ptr<Engine> engine,
               Engine::create(file, store.async(), *cache, store.reactor(), options, metrics));
  const uint64_t size = engine->size_bytes();
  uint64_t next = 0, done = 0;
  int in_flight = 0;
  std::optional<Error> failed;
  std::function<void()> pump = [&] {
    while (!failed && in_flight < concurrency && next < size) {
      uint64_t offset = next, length = std::min(kPiece, size - next);
      next += length;
      auto buffer = std::shared_ptr<char[]>(new char[length]);
      auto iov = std::make_shared<iovec>(iovec{buffer.get(), length});
      ++in_flight;
      engine->readv(offset, std::span<const iovec>(iov.get(), 1),
                    [&, offset, length, buffer, iov](Status s) {
                      --in_flight;
                      if (s.ok() && !all_zero(buffer.get(), length))
                        s = pwrite_all(fd, std::string_view(buffer.get(), length), offset,
                                       "writing the image");
                      if (!s.ok() && !failed) failed = s.error();
                      done += length;
                      if (::isatty(STDERR_FILENO))
                        std::fprintf(stderr, "\r\033[Kexport: %s / %s", human_bytes(done).c_str(),
                                     human_bytes(size).c_str());
                      pump();
                    });
    }
  };
  pump();
  store.reactor().run_until([&] { return in_flight == 0 && (failed || next >= size); });
  end_progress();
  if (failed) return *failed;
  return {};
}

int run_export(const IndexOptions& o) {
  auto file = open_index(o.file);
  if (!file.ok()) return report_failure("index export", file.error());
  const std::string& source = file->build_info().source;
  int exit_code = 0;
  auto opened = open_from_args(source, o.store, exit_code);
  if (!opened) return exit_code;
  int fd = ::open(o.image.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return report_failure("index export", errno_error("creating " + o.image, errno));
  Status s;
  if (::ftruncate(fd, static_cast<off_t>(file->device_bytes())) != 0)
    s = errno_error("sizing " + o.image, errno);
  if (s.ok()) s = export_device(*file, opened->store, fd, std::max(o.fetch_concurrency, 1));
  if (s.ok() && ::fsync(fd) != 0) s = errno_error("fsync " + o.image, errno);
  ::close(fd);
  if (!s.ok()) return report_failure("index export " + o.image, s.error());
  std::printf("%s: %s EROFS image, %llu objects fetched from %s\n", o.image.c_str(),
              human_bytes(file->device_bytes()).c_str(),
              static_cast<unsigned long long>(file->summary().extent_count), source.c_str());
  return 0;
}

}  // namespace

void register_index(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<IndexOptions>();
  CLI::App* index = app.add_subcommand("index", "Build an index of a bucket prefix, or inspect one");
  index->require_subcommand(1);

  CLI::App* build = index->add_subcommand("build", "List (or read a manifest of) a prefix and write its index");
  build->add_option("URI", o->uri, "What the volume serves: oss://bucket/prefix, s3://…, file:///dir")->required();
  build->add_option("-o,--output", o->output,
                    "The index file to write, or a store URI (s3://bucket/indexes/x.shix) to "
                    "upload it to for other nodes to mount")
      ->required();
  build->add_option("--from-manifest", o->manifest,
                    "Read objects from a CSV manifest (key,size,etag,mtime; gzip or a pipe) "
                    "instead of listing");
  build->add_option("--from-inventory", o->inventory,
                    "Read objects from an S3 or OSS inventory report: its manifest.json, a local "
                    "path or a store URI (s3://dest-bucket/…/manifest.json)")
      ->excludes("--from-manifest");
  build->add_flag("--keep-mtime", o->keep_mtime, "Keep each object's mtime (extended inodes)");
  build->add_option("--list-concurrency", o->list_concurrency, "List requests in flight")
      ->capture_default_str()->check(CLI::Range(1, 1024));
  add_store_options(*build, o->store);
  build->callback([o, &exit_code] { exit_code = run_build(*o); });

  CLI::App* info = index->add_subcommand("info", "Show an index's summary and build report");
  info->add_option("FILE", o->file, "Index file")->required();
  info->callback([o, &exit_code] { exit_code = run_info(*o); });

  CLI::App* ls = index->add_subcommand("ls", "List a directory of the volume an index describes");
  ls->add_option("FILE", o->file, "Index file")->required();
  ls->add_option("PATH", o->path, "Directory inside the volume (default: the root)");
  ls->callback([o, &exit_code] { exit_code = run_ls(*o); });

  CLI::App* verify = index->add_subcommand("verify", "Check an index's checksums and every entry");
  verify->add_option("FILE", o->file, "Index file")->required();
  verify->callback([o, &exit_code] { exit_code = run_verify(*o); });

  CLI::App* exp = index->add_subcommand("export", "Write the complete EROFS image, fetching every object");
  exp->add_option("FILE", o->file, "Index file")->required();
  exp->add_option("IMAGE", o->image, "Image file to write")->required();
  exp->add_option("--concurrency", o->fetch_concurrency, "GETs in flight")->capture_default_str();
  add_store_options(*exp, o->store);
  exp->callback([o, &exit_code] { exit_code = run_export(*o); });
}

}  // namespace shoal::cli
