// The block engine: the BlockDevice shoald serves, over an index file and an object store.
//
//   readv(offset, iov) → metadata blocks straight from the mmapped index
//                      → data blocks: extent → object → fetch unit → memory cache
//                                     └ miss: the fetcher (one shared, version-pinned GET)
//                      → zeros for holes and past an object's end in its last block
//   and, after each read, the prefetcher decides what to fetch next.
//
// docs/engine.md describes the data path, fetch units, priorities and prefetch rules.
//
// Threading: single-threaded, on the reactor the store was opened with (one engine per worker
// loop). The index, store, cache, reactor and metrics registry must outlive the engine.
// Destroying the engine drops reads still waiting for data without calling their `done`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/reactor.h"
#include "common/result.h"
#include "daemon/block_device.h"
#include "daemon/cache/memory_cache.h"
#include "daemon/engine/engine_metrics.h"
#include "daemon/engine/engine_options.h"
#include "daemon/engine/fetcher.h"
#include "daemon/engine/prefetcher.h"
#include "daemon/engine/read_plan.h"
#include "daemon/metrics.h"
#include "index/index_file.h"
#include "store/object_store.h"

namespace shoal {

using engine::HintReport;

class Engine final : public BlockDevice {
 public:
  // Validates the options against the cache (see validate()) and starts warm-all and the hint
  // list when the options ask for them. Keys are fetched as the index's build-info prefix
  // followed by each object's relative key.
  static Result<std::unique_ptr<Engine>> create(const index::IndexFile& index, ObjectStore& store,
                                                MemoryCache& cache, Reactor& reactor,
                                                EngineOptions options, Metrics& metrics);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  uint64_t size_bytes() const override { return index_.device_bytes(); }
  void readv(uint64_t offset, std::span<const iovec> iov, ReadDone done) override;
  // Lends cache pages, the index mapping and a static page of zeros: no copy at all.
  void lend(uint64_t offset, uint64_t length, LendDone done) override;

  // Volume paths (keys relative to the volume root) in the order the job will read them;
  // replaces any earlier list. Unknown paths are reported, not fatal.
  HintReport set_hints(const std::vector<std::string>& paths);
  // Fills the cache in layout order up to its budget, at the lowest priority.
  void warm_all();
  uint32_t prefetch_window() const { return prefetcher_.window(); }

 private:
  struct Request;

  Engine(const index::IndexFile& index, ObjectStore& store, MemoryCache& cache,
         Reactor& reactor, const EngineOptions& options, Metrics& metrics,
         std::string key_prefix);
  void start(const std::shared_ptr<Request>& request, uint64_t offset);
  void serve_piece(const std::shared_ptr<Request>& request, const engine::ReadStep& step);
  void copy_piece(Request& request, const engine::ReadStep& step, const CacheBuffer& buffer);
  void piece_done(const std::shared_ptr<Request>& request);
  void finish(Request& request, Status status);

  const index::IndexFile& index_;
  MemoryCache& cache_;
  Reactor& reactor_;
  engine::FetchGeometry geometry_;
  engine::EngineMetrics metrics_;
  engine::Fetcher fetcher_;  // before the prefetcher, which calls it
  engine::Prefetcher prefetcher_;
};

}  // namespace shoal
