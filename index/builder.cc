#include "index/builder.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <deque>
#include <limits>
#include <numeric>
#include <optional>

#include "index/erofs/image_writer.h"
#include "index/inventory.h"
#include "index/manifest.h"
#include "store/hash.h"

namespace shoal::index {

using Clock = std::chrono::steady_clock;

namespace {

constexpr uint32_t kNotAnObject = std::numeric_limits<uint32_t>::max();

// Rate-limits progress callbacks so a terminal line is redrawn ~10 times a second.
class ProgressTicker {
 public:
  ProgressTicker(const BuildOptions& options, BuildProgress& progress)
      : options_(options), progress_(progress), start_(Clock::now() - progress.elapsed) {}
  void tick(const char* phase, bool force = false) {
    progress_.phase = phase;
    if (!options_.progress) return;
    auto now = Clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    progress_.elapsed = now - start_;
    options_.progress(progress_);
  }

 private:
  const BuildOptions& options_;
  BuildProgress& progress_;
  Clock::time_point start_;
  Clock::time_point last_{};
};

// Byte order with '/' below every other byte: sorting paths this way lists a directory's
// subtree right after its own name and before any sibling it prefixes ("a/x" < "a.txt"),
// which is the depth-first, name-sorted order of the volume.
bool path_order_less(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] == b[i]) continue;
    if (a[i] == '/') return true;
    if (b[i] == '/') return false;
    return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
  }
  return a.size() < b.size();
}

struct Accepted {
  uint32_t object;
  uint32_t path_offset;  // where the volume path starts inside the object's key
  EntryKind kind;
};

struct Layout {
  std::vector<Accepted> entries;
  std::vector<SkippedKey> skipped;
  uint64_t outside_prefix = 0;
};

Result<Layout> apply_key_rules(ObjectCollector& objects, const std::string& prefix) {
  std::vector<uint32_t> order(objects.size());
  std::iota(order.begin(), order.end(), 0u);
  auto key_less = [&](uint32_t a, uint32_t b) { return objects.key(a) < objects.key(b); };
  if (!std::is_sorted(order.begin(), order.end(), key_less))
    std::sort(order.begin(), order.end(), key_less);

  Layout layout;
  layout.entries.reserve(objects.size());
  SortedKeyWalker walker(prefix, [&](const KeyDecision& d) {
    auto id = static_cast<uint32_t>(d.tag);
    if (d.skip == SkipReason::kOutsidePrefix) {
      ++layout.outside_prefix;
    } else if (d.skipped()) {
      layout.skipped.push_back({d.skip, std::string(d.key)});
    } else {
      auto offset = static_cast<uint32_t>(d.path.data() - d.key.data());
      layout.entries.push_back({id, offset, d.kind});
      return;
    }
    objects.records()[id].flags |= kObjectNotInVolume;
  });
  for (uint32_t id : order)
    SHOAL_TRY(walker.add(objects.key(id), objects.records()[id].size, id));
  walker.finish();

  auto path_of = [&](const Accepted& e) { return objects.key(e.object).substr(e.path_offset); };
  std::sort(layout.entries.begin(), layout.entries.end(),
            [&](const Accepted& a, const Accepted& b) { return path_order_less(path_of(a), path_of(b)); });
  return layout;
}

// Builds the tree from entries in path order, keeping the chain of open directories on a
// stack so each entry costs only the components it does not share with the previous one.
class TreeAssembler {
 public:
  TreeAssembler(erofs::FileTree& tree, std::vector<uint32_t>& node_object)
      : tree_(tree), node_object_(node_object) {
    node_object_.assign(1, kNotAnObject);  // the root
  }

  Result<erofs::NodeId> add(std::string_view path, EntryKind kind, uint64_t size, uint32_t object) {
    std::vector<std::string_view> names = path_components(path);
    if (names.empty()) return erofs::kRootNode;  // the prefix's own marker
    size_t dirs = kind == EntryKind::kDirectory ? names.size() : names.size() - 1;
    SHOAL_TRY(open_directories(std::span(names.data(), dirs)));
    if (kind == EntryKind::kDirectory) return stack_.back().node;
    SHOAL_ASSIGN(erofs::NodeId node, tree_.add_file(stack_.back().node, names.back(), size));
    node_object_.push_back(object);
    return node;
  }

 private:
  struct Open {
    std::string_view name;
    erofs::NodeId node;
  };

  Status open_directories(std::span<const std::string_view> names) {
    size_t common = 0;
    while (common < names.size() && common + 1 < stack_.size() &&
           stack_[common + 1].name == names[common])
      ++common;
    stack_.resize(common + 1);
    for (size_t i = common; i < names.size(); ++i) {
      SHOAL_ASSIGN(erofs::NodeId dir, tree_.add_directory(stack_.back().node, names[i]));
      node_object_.push_back(kNotAnObject);
      stack_.push_back({names[i], dir});
    }
    return {};
  }

  erofs::FileTree& tree_;
  std::vector<uint32_t>& node_object_;
  std::vector<Open> stack_{{"", erofs::kRootNode}};
};

erofs::Timestamp to_timestamp(int64_t ns) {
  int64_t sec = ns / 1000000000;
  int64_t rem = ns % 1000000000;
  if (rem < 0) { rem += 1000000000; --sec; }
  return {sec, static_cast<uint32_t>(rem)};
}

BuildInfo build_info(const BuildOptions& options, const BuildReport& report, int64_t now) {
  BuildInfo info;
  info.source = options.source;
  info.prefix = options.prefix;
  info.built_unix = now;
  info.objects = report.objects;
  info.files = report.files;
  info.directories = report.directories;
  info.outside_prefix = report.outside_prefix;
  info.keep_mtime = options.keep_mtime;
  info.skipped = report.skipped;
  return info;
}

// Keys in the index are relative to the prefix: rebase the accepted objects' key references.
void strip_prefix(ObjectCollector& objects, size_t prefix_length) {
  for (ObjectRecord& r : objects.records()) {
    if (r.flags & kObjectNotInVolume) continue;
    r.key_offset += static_cast<uint32_t>(prefix_length);
    r.key_length = static_cast<uint16_t>(r.key_length - prefix_length);
  }
}

// Lists a prefix as a set of partitions in parallel. While few partitions are known, a
// partition is listed with the '/' delimiter so its subdirectories become partitions of their
// own; past the target count they are listed flat. Pages of one partition follow each other
// (continuation tokens); partitions run side by side.
class ParallelLister {
 public:
  ParallelLister(ObjectStore& store, const BuildOptions& options, ObjectCollector& out,
                 BuildProgress& progress)
      : store_(store), options_(options), out_(out), progress_(progress),
        ticker_(options, progress),
        concurrency_(std::max(options.list_concurrency, 1)),
        target_partitions_(static_cast<size_t>(concurrency_) * 8) {}

  Status run(PollReactor& loop) {
    queue_.push_back({options_.prefix, true, ""});
    partitions_ = 1;
    pump();
    loop.run_until([&] { return in_flight_ == 0 && (failed_ || queue_.empty()); });
    ticker_.tick("listing", true);
    if (failed_) return *failed_;
    return {};
  }

 private:
  struct Task {
    std::string prefix;
    bool delimited;
    std::string token;
  };

  void pump() {
    while (!failed_ && in_flight_ < concurrency_ && !queue_.empty()) {
      Task task = std::move(queue_.front());
      queue_.pop_front();
      issue(std::move(task));
    }
  }

  void issue(Task task) {
    ListQuery q;
    q.prefix = task.prefix;
    q.delimiter = task.delimited ? "/" : "";
    q.continuation_token = task.token;
    ++in_flight_;
    store_.list(std::move(q), [this, task = std::move(task)](Result<ListPage> page) mutable {
      --in_flight_;
      ++progress_.requests;
      on_page(std::move(task), std::move(page));
      pump();
    });
  }

  void on_page(Task task, Result<ListPage> page) {
    if (!page.ok()) {
      if (!failed_) failed_ = std::move(page).error().with_context("listing " + task.prefix);
      return;
    }
    for (const ObjectInfo& o : page->objects) {
      Status added = out_.add(o.key, o.size, o.etag, o.mtime_ns);
      if (!added.ok() && !failed_) failed_ = std::move(added).error();
      ++progress_.objects;
    }
    for (std::string& sub : page->common_prefixes) {
      bool split_further = partitions_ < target_partitions_;
      ++partitions_;
      queue_.push_back({std::move(sub), split_further, ""});
    }
    if (!page->next_token.empty()) {
      task.token = std::move(page->next_token);
      queue_.push_front(std::move(task));  // finish started partitions first: less memory
    }
    ticker_.tick("listing");
  }

  ObjectStore& store_;
  const BuildOptions& options_;
  ObjectCollector& out_;
  BuildProgress& progress_;
  ProgressTicker ticker_;
  int concurrency_;
  size_t target_partitions_;
  size_t partitions_ = 0;
  int in_flight_ = 0;
  std::deque<Task> queue_;
  std::optional<Error> failed_;
};

// Drops the already parsed part of a mapped manifest from memory: the collector holds copies
// of what it needs, and a 10M-line manifest would otherwise stay resident (1 GB) until the end.
void release_parsed(std::string_view text, const char* parsed_up_to) {
  auto base = reinterpret_cast<uintptr_t>(text.data());
  auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t start = (base + page - 1) / page * page;
  uintptr_t end = reinterpret_cast<uintptr_t>(parsed_up_to) / page * page;
  if (end > start) ::madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED);
}

}  // namespace

Status ObjectCollector::add(std::string_view key, uint64_t size, std::string_view etag,
                            int64_t mtime_ns) {
  if (key.size() > std::numeric_limits<uint16_t>::max() || etag.size() > 255)
    return Error(ErrorKind::kInvalidArgument, "key or ETag too long: " + std::string(key.substr(0, 80)));
  if (strings_.size() + key.size() + etag.size() > std::numeric_limits<uint32_t>::max())
    return Error(ErrorKind::kNoSpace, "more than 4 GiB of keys: split the volume into several prefixes");
  if (records_.size() >= std::numeric_limits<uint32_t>::max() - 1)
    return Error(ErrorKind::kNoSpace, "more than 4 billion objects in one volume");
  ObjectRecord r{};
  r.size = size;
  r.mtime_ns = mtime_ns;
  r.key_offset = static_cast<uint32_t>(strings_.size());
  r.key_length = static_cast<uint16_t>(key.size());
  strings_.insert(strings_.end(), key.begin(), key.end());
  r.etag_offset = static_cast<uint32_t>(strings_.size());
  r.etag_length = static_cast<uint8_t>(etag.size());
  strings_.insert(strings_.end(), etag.begin(), etag.end());
  records_.push_back(r);
  return {};
}

std::string_view ObjectCollector::key(uint32_t id) const {
  const ObjectRecord& r = records_[id];
  return {strings_.data() + r.key_offset, r.key_length};
}

std::string directory_prefix(std::string_view prefix) {
  std::string p(prefix);
  if (!p.empty() && p.back() != '/') p.push_back('/');
  return p;
}

Status list_parallel(ObjectStore& store, PollReactor& loop, const BuildOptions& options,
                     ObjectCollector& out, BuildProgress& progress) {
  return ParallelLister(store, options, out, progress).run(loop);
}

Status read_manifest(const std::string& path, const BuildOptions& options, ObjectCollector& out,
                     BuildProgress& progress) {
  ProgressTicker ticker(options, progress);
  SHOAL_ASSIGN(ManifestFile manifest, ManifestFile::open(path));
  // Keys and ETags fit in the manifest's own bytes; a row is at least ~40 bytes.
  out.reserve(manifest.text().size() / 40 + 16, manifest.text().size());
  SHOAL_ASSIGN(ManifestStats stats, manifest.parse([&](const ManifestEntry& e) -> Status {
    SHOAL_TRY(out.add(e.key, e.size, e.etag, e.mtime_ns));
    ++progress.objects;
    if ((progress.objects & 0xFFFF) == 0) {
      ticker.tick("reading manifest");
      release_parsed(manifest.text(), e.key.data());
    }
    return {};
  }));
  if (stats.entries == 0 && stats.malformed == 0) {
    // An empty pipe or file is what a failed upstream command hands over; indexing it would
    // give an empty volume and exit 0.
    return Error(ErrorKind::kInvalidArgument,
                 "manifest " + path + " holds no objects" +
                     (stats.had_header ? " (a header line only)" : " (it is empty)") +
                     ": nothing to index");
  }
  ticker.tick("reading manifest", true);
  return {};
}

Status read_inventory(std::string_view manifest_json, const std::string& manifest_name,
                      std::string_view bucket, const InventoryFetch& fetch,
                      const BuildOptions& options, ObjectCollector& out, BuildProgress& progress) {
  ProgressTicker ticker(options, progress);
  SHOAL_ASSIGN(InventoryManifest manifest, parse_inventory_manifest(manifest_json, manifest_name));
  if (manifest.source_bucket != bucket) {
    return Error(ErrorKind::kInvalidArgument,
                 "inventory " + manifest_name + " reports bucket " + manifest.source_bucket +
                     ", not " + std::string(bucket) + ": index the bucket the report is of");
  }
  uint64_t other_buckets = 0;
  for (const InventoryDataFile& file : manifest.files) {
    SHOAL_ASSIGN(std::string bytes, fetch(file.key));
    if (file.size != 0 && bytes.size() != file.size) {
      return Error(ErrorKind::kIntegrity,
                   "inventory data file " + file.key + " is " + std::to_string(bytes.size()) +
                       " bytes, the manifest says " + std::to_string(file.size));
    }
    if (!file.md5_hex.empty() && hex_encode(md5(bytes)) != file.md5_hex) {
      return Error(ErrorKind::kIntegrity, "inventory data file " + file.key +
                                              " does not match the manifest's MD5checksum " +
                                              file.md5_hex + ": the report is damaged or partial");
    }
    SHOAL_ASSIGN(ManifestFile text, ManifestFile::from_bytes(file.key, bytes));
    bytes = std::string();  // the inflated copy is what is parsed
    SHOAL_ASSIGN(InventoryStats stats,
                 parse_inventory_rows(text.text(), file.key, manifest.schema, bucket,
                                      [&](const ManifestEntry& e) -> Status {
                                        SHOAL_TRY(out.add(e.key, e.size, e.etag, e.mtime_ns));
                                        ++progress.objects;
                                        if ((progress.objects & 0xFFFF) == 0)
                                          ticker.tick("reading inventory");
                                        return {};
                                      }));
    other_buckets += stats.other_buckets;
  }
  if (progress.objects == 0) {
    return Error(ErrorKind::kInvalidArgument,
                 "inventory " + manifest_name + " holds no objects of bucket " +
                     std::string(bucket) +
                     (other_buckets ? " (" + std::to_string(other_buckets) +
                                          " rows of other buckets)"
                                    : "") +
                     ": nothing to index");
  }
  ticker.tick("reading inventory", true);
  return {};
}

Result<BuildReport> write_index(ObjectCollector& objects, const BuildOptions& options,
                                const std::string& out_path, BuildProgress& progress) {
  ProgressTicker ticker(options, progress);
  ticker.tick("laying out", true);
  auto started = Clock::now() - progress.elapsed;
  BuildReport report;
  report.objects = objects.size();
  report.list_requests = progress.requests;

  SHOAL_ASSIGN(Layout layout, apply_key_rules(objects, options.prefix));
  erofs::FileTree tree;
  std::vector<uint32_t> node_object;
  TreeAssembler assembler(tree, node_object);
  for (const Accepted& e : layout.entries) {
    const ObjectRecord& r = objects.records()[e.object];
    std::string_view path = objects.key(e.object).substr(e.path_offset);
    SHOAL_ASSIGN(erofs::NodeId node, assembler.add(path, e.kind, r.size, e.object));
    if (options.keep_mtime && e.kind == EntryKind::kFile) tree.set_mtime(node, to_timestamp(r.mtime_ns));
  }
  SHOAL_TRY(tree.seal());

  int64_t now = std::time(nullptr);
  erofs::ImageOptions image;
  image.keep_mtime = options.keep_mtime;
  image.build_time = {now, 0};
  SHOAL_ASSIGN(erofs::ImageWriter writer, erofs::ImageWriter::plan(tree, image));
  SHOAL_ASSIGN(uint32_t device_blocks,
               erofs::assign_data_blocks_contiguously(tree, writer.metadata_blocks()));

  std::vector<Extent> extents;
  tree.visit_depth_first([&](erofs::NodeId node) {
    if (tree.is_directory(node)) { ++report.directories; return; }
    ++report.files;
    ObjectRecord& r = objects.records()[node_object[node]];
    report.data_bytes += r.size;
    if (r.size == 0) return;
    r.first_block = tree.data_block(node);
    extents.push_back({r.first_block, node_object[node]});
  });

  ticker.tick("writing", true);
  strip_prefix(objects, options.prefix.size());
  report.skipped = std::move(layout.skipped);
  report.outside_prefix = layout.outside_prefix;
  report.device_bytes = uint64_t{device_blocks} * kBlockSize;

  IndexContents contents;
  contents.summary = {device_blocks, writer.metadata_blocks(), objects.size(), extents.size(), now};
  contents.write_metadata = [&](const IndexContents::BlockSink& sink) { return writer.write(tree, sink); };
  contents.extents = extents;
  contents.objects = objects.records();
  contents.strings = objects.strings();
  contents.build_info = build_info(options, report, now);
  SHOAL_TRY(write_index_file(out_path, contents));

  SHOAL_ASSIGN(IndexFile written, IndexFile::open(out_path, IndexFile::Verify::kStructureOnly));
  report.index_bytes = written.file_bytes();
  report.elapsed = Clock::now() - started;
  return report;
}

}  // namespace shoal::index
