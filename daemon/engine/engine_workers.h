// Several engines serving one volume, each on its own event loop and thread: the BlockDevice
// shoald hands its frontend when `[daemon] workers` is more than one.
//
//   frontend (home loop) ─ readv/lend ─► route by object ─► worker k's Engine (loop k)
//                                                        └► worker 0's Engine (home loop)
//
// Each worker owns a UringReactor, an object store client (its own HTTP connections), a
// MemoryCache of budget / N over one shared BufferPool, and an Engine. Worker 0 runs on the
// home loop, so with one worker nothing crosses a thread. Objects belong to workers in runs of
// consecutive object ids (the object table is in key order, close to the layout order), so
// the neighbours cross-file prefetch fetches are mostly the same worker's and each object is
// fetched and cached by exactly one worker. A read that touches objects of two workers (a
// FUSE read spanning the end of one small file and the start of the next) is cut at the
// boundary and completed when every part has.
//
// Shared and why it is safe: the index (read-only after open), the buffer pool (locks once
// per buffer), the metrics registry (atomics). Split: the cache budget (each worker's own
// share, no lock on the hot path), GETs in flight and the rate cap (each worker a 1/N share,
// so the volume's totals hold without a shared counter per GET).
//
// Threading: readv(), lend(), set_hints() and prefetch_window() are called on the home loop,
// and every `done` runs there. Worker engines are touched only on their own threads: calls are
// posted to their loops and replies posted back. Lent bytes may be dropped on the home thread
// (buffer_pool.h allows it). Destroying the workers stops and joins their threads; reads still
// in flight there are dropped without their `done` (as Engine's are).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "daemon/block_device.h"
#include "daemon/cache/buffer_pool.h"
#include "daemon/engine/engine.h"
#include "daemon/metrics.h"
#include "daemon/uring_reactor.h"
#include "index/index_file.h"
#include "store/object_store.h"

namespace shoal {

struct WorkerOptions {
  static constexpr int kMaxWorkers = 16;
  int workers = 1;
  // Objects per run of ownership. Large enough that a prefetch window (at most 64 objects by
  // default) rarely crosses into another worker's run; tests use small runs.
  uint32_t run_objects = 1024;
};

// The default worker count: half the CPUs this process may run on, at least 1, at most
// kMaxWorkers.
int default_worker_count();

class EngineWorkers final : public BlockDevice {
 public:
  // Opens a worker's store on that worker's loop.
  using OpenStore = std::function<Result<std::unique_ptr<ObjectStore>>(Reactor& loop)>;

  // Starts the workers and their engines (each created on its own thread; the first failure is
  // returned, after the others are stopped). The count is lowered, with a log line, when the
  // cache budget split N ways would leave a worker less than validate() asks for. `options`
  // apply to every engine, with GETs in flight and the rate cap split between them.
  static Result<std::unique_ptr<EngineWorkers>> start(const index::IndexFile& index,
                                                      UringReactor& home, OpenStore open_store,
                                                      std::shared_ptr<BufferPool> pool,
                                                      uint64_t cache_budget, EngineOptions options,
                                                      Metrics& metrics, WorkerOptions workers);
  ~EngineWorkers() override;
  EngineWorkers(const EngineWorkers&) = delete;
  EngineWorkers& operator=(const EngineWorkers&) = delete;

  uint64_t size_bytes() const override { return index_.device_bytes(); }
  void readv(uint64_t offset, std::span<const iovec> iov, ReadDone done) override;
  void lend(uint64_t offset, uint64_t length, LendDone done) override;

  // Every worker gets the whole list (each prefetches the hinted objects it owns); the report
  // is the volume's.
  HintReport set_hints(const std::vector<std::string>& paths);
  // Worker 0's window (each worker adapts its own).
  uint32_t prefetch_window() const;
  int count() const { return static_cast<int>(workers_.size()); }
  uint64_t cache_budget() const { return cache_budget_; }
  // The worker that owns, fetches and caches `object`.
  int owner_of(uint32_t object) const {
    return static_cast<int>((object / run_objects_) % workers_.size());
  }

 private:
  struct Worker;
  struct Part {
    int worker = 0;
    uint64_t start = 0;  // offset inside the request
    uint64_t length = 0;
  };
  struct Split;

  EngineWorkers(const index::IndexFile& index, UringReactor& home, uint32_t run_objects,
                engine::FetchGeometry geometry);
  std::vector<Part> route(uint64_t offset, uint64_t length) const;
  // Runs fn(engine) on worker w's loop; the engine's reply comes back through `reply`.
  void on_worker(int w, std::function<void(Engine&)> fn);
  // Wraps a worker's reply so it runs on the home loop.
  template <typename T>
  std::function<void(T)> home_side(int w, std::function<void(T)> done);

  const index::IndexFile& index_;
  UringReactor& home_;
  uint32_t run_objects_;
  engine::FetchGeometry geometry_;
  uint64_t cache_budget_ = 0;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace shoal
