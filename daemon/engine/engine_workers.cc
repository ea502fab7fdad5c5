#include "daemon/engine/engine_workers.h"

#include <sched.h>

#include <algorithm>
#include <future>
#include <optional>
#include <utility>

#include "common/log.h"
#include "daemon/engine/read_plan.h"

namespace shoal {

// Half the CPUs, not all of them: the readers, the kernel's FUSE, loop and EROFS work and the
// frontend on the home loop need the rest, and a worker that waits for a core makes every read
// routed to it wait too (two cross-thread hops per read). On 2 cores, 2 workers made a hinted
// DataLoader epoch 2.4x slower than 1 (docs/BENCHMARKS.md).
int default_worker_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  int cpus = ::sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  return std::clamp(cpus / 2, 1, WorkerOptions::kMaxWorkers);
}

struct EngineWorkers::Worker {
  std::unique_ptr<UringReactor> own_loop;  // null for worker 0, which runs on the home loop
  UringReactor* loop = nullptr;
  std::unique_ptr<ObjectStore> store;
  std::unique_ptr<MemoryCache> cache;
  std::unique_ptr<Engine> engine;
  std::thread thread;

  // Builds the store, cache and engine on the calling thread, which must be the loop's.
  Status open(const index::IndexFile& index, const OpenStore& open_store,
              const std::shared_ptr<BufferPool>& pool, uint64_t budget, EngineOptions options,
              Metrics& metrics) {
    SHOAL_ASSIGN(store, open_store(*loop));
    SHOAL_ASSIGN(cache, MemoryCache::create(budget, pool));
    SHOAL_ASSIGN(engine, Engine::create(index, *store, *cache, *loop, std::move(options), metrics));
    return {};
  }
  // On the loop's thread: engine before the cache and store it uses.
  void close() {
    engine.reset();
    cache.reset();
    store.reset();
  }
};

// A read cut into parts on several workers: answered once every part has, the first failure
// winning. Touched only on the home loop.
struct EngineWorkers::Split {
  size_t remaining = 0;
  std::optional<Error> error;
  ReadDone done;
  LendDone lent;
  std::vector<LentBytes> pieces;  // lend: each part's bytes, in request order

  void part_done(const Status& status) {
    if (!status.ok() && !error) error = status.error();
    if (--remaining > 0) return;
    if (lent) {
      if (error) {
        lent(*error);
        return;
      }
      LentBytes all;
      for (LentBytes& p : pieces) {
        all.iov.insert(all.iov.end(), p.iov.begin(), p.iov.end());
        all.holds.insert(all.holds.end(), p.holds.begin(), p.holds.end());
      }
      pieces.clear();
      lent(std::move(all));
      return;
    }
    done(error ? Status(*error) : Status{});
  }
};

EngineWorkers::EngineWorkers(const index::IndexFile& index, UringReactor& home,
                             uint32_t run_objects, engine::FetchGeometry geometry)
    : index_(index), home_(home), run_objects_(std::max<uint32_t>(1, run_objects)),
      geometry_(geometry) {}

namespace {

// One worker's share of the volume's limits.
EngineOptions share_of(const EngineOptions& options, int n) {
  EngineOptions share = options;
  share.max_gets_in_flight = std::max(1, (options.max_gets_in_flight + n - 1) / n);
  share.max_gets_per_second = options.max_gets_per_second / n;
  return share;
}

}  // namespace

Result<std::unique_ptr<EngineWorkers>> EngineWorkers::start(
    const index::IndexFile& index, UringReactor& home, OpenStore open_store,
    std::shared_ptr<BufferPool> pool, uint64_t cache_budget, EngineOptions options,
    Metrics& metrics, WorkerOptions worker_options) {
  int n = std::clamp(worker_options.workers, 1, WorkerOptions::kMaxWorkers);
  int asked = n;
  while (n > 1 && !validate(share_of(options, n), cache_budget / n).ok()) --n;
  if (n < asked)
    log_info("workers: " + std::to_string(n) + " instead of " + std::to_string(asked) +
             ": a " + std::to_string(cache_budget) + "-byte cache split " +
             std::to_string(asked) + " ways leaves a worker too little for its fetches");
  std::unique_ptr<EngineWorkers> workers(new EngineWorkers(
      index, home, worker_options.run_objects,
      engine::FetchGeometry{options.whole_object_max, options.chunk_size}));
  uint64_t budget = cache_budget / n;
  workers->cache_budget_ = budget * n;
  for (int w = 0; w < n; ++w) {
    EngineOptions mine = n == 1 ? options : share_of(options, n);
    if (n > 1) {
      uint32_t run = workers->run_objects_;
      mine.owns = [run, n, w](uint32_t object) { return static_cast<int>((object / run) % n) == w; };
    }
    auto worker = std::make_unique<Worker>();
    Worker* raw = worker.get();
    workers->workers_.push_back(std::move(worker));
    if (w == 0) {
      raw->loop = &home;
      SHOAL_TRY(raw->open(index, open_store, pool, budget, std::move(mine), metrics));
      continue;
    }
    // The hint list was reported (unknown paths logged) by worker 0; the others take it
    // quietly once their engine exists.
    std::vector<std::string> hints = std::move(mine.hints);
    mine.hints.clear();
    std::promise<Status> opened;
    std::future<Status> result = opened.get_future();
    raw->thread = std::thread([raw, &index, open_store, pool, budget, &metrics,
                               mine = std::move(mine), hints = std::move(hints),
                               opened = std::move(opened)]() mutable {
      auto loop = UringReactor::create();
      if (!loop.ok()) {
        opened.set_value(std::move(loop).error().with_context("a worker's event loop"));
        return;
      }
      raw->own_loop = std::move(loop).value();
      raw->loop = raw->own_loop.get();
      Status status = raw->open(index, open_store, pool, budget, std::move(mine), metrics);
      if (status.ok() && !hints.empty()) raw->engine->set_hints(hints);
      bool ok = status.ok();
      opened.set_value(std::move(status));
      if (ok) raw->loop->run();
      raw->close();
    });
    Status status = result.get();
    if (!status.ok()) return std::move(status).error();  // the destructor joins what started
  }
  if (n > 1)
    log_info(std::to_string(n) + " workers, each with its own event loop, store connections and " +
             std::to_string(budget) + " bytes of the cache");
  return workers;
}

EngineWorkers::~EngineWorkers() {
  for (size_t w = workers_.size(); w-- > 1;) {
    Worker& worker = *workers_[w];
    if (!worker.thread.joinable()) continue;
    if (worker.loop != nullptr) worker.loop->stop();
    worker.thread.join();
  }
  if (!workers_.empty()) workers_[0]->close();
}

std::vector<EngineWorkers::Part> EngineWorkers::route(uint64_t offset, uint64_t length) const {
  if (workers_.size() == 1 || !within_device(size_bytes(), offset, length))
    return {Part{0, 0, length}};  // worker 0 answers a bad range with the engine's error
  std::vector<Part> parts;
  int current = -1;  // owner of the part being built; -1 until an object step names one
  uint64_t start = 0;
  for (const engine::ReadStep& step : engine::plan_read(index_, geometry_, offset, length)) {
    if (step.kind != engine::ReadStep::Kind::kObject) continue;  // metadata, zeros: anyone's
    int owner = owner_of(step.unit.object);
    if (current == -1) {
      current = owner;
    } else if (owner != current) {
      parts.push_back(Part{current, start, step.dest - start});
      start = step.dest;
      current = owner;
    }
  }
  parts.push_back(Part{current == -1 ? 0 : current, start, length - start});
  return parts;
}

void EngineWorkers::on_worker(int w, std::function<void(Engine&)> fn) {
  Worker& worker = *workers_[static_cast<size_t>(w)];
  if (w == 0) {
    fn(*worker.engine);
    return;
  }
  worker.loop->post([engine = worker.engine.get(), fn = std::move(fn)] { fn(*engine); });
}

template <typename T>
std::function<void(T)> EngineWorkers::home_side(int w, std::function<void(T)> done) {
  if (w == 0) return done;
  return [home = &home_, done = std::move(done)](T value) {
    home->post([done, value = std::move(value)]() mutable { done(std::move(value)); });
  };
}

namespace {

// The caller's iovecs covering [start, start + length) of the request.
std::vector<iovec> slice(std::span<const iovec> iov, uint64_t start, uint64_t length) {
  std::vector<iovec> out;
  uint64_t at = 0;
  for (const iovec& v : iov) {
    uint64_t end = at + v.iov_len;
    if (end > start && at < start + length) {
      uint64_t from = std::max(at, start);
      uint64_t to = std::min(end, start + length);
      out.push_back(iovec{static_cast<char*>(v.iov_base) + (from - at), to - from});
    }
    at = end;
  }
  return out;
}

uint64_t total_length(std::span<const iovec> iov) {
  uint64_t n = 0;
  for (const iovec& v : iov) n += v.iov_len;
  return n;
}

}  // namespace

void EngineWorkers::readv(uint64_t offset, std::span<const iovec> iov, ReadDone done) {
  std::vector<Part> parts = route(offset, total_length(iov));
  if (parts.size() == 1) {
    int w = parts[0].worker;
    on_worker(w, [offset, v = std::vector<iovec>(iov.begin(), iov.end()),
                  d = home_side<Status>(w, std::move(done))](Engine& e) { e.readv(offset, v, d); });
    return;
  }
  auto split = std::make_shared<Split>();
  split->remaining = parts.size();
  split->done = std::move(done);
  for (const Part& p : parts) {
    auto reply = home_side<Status>(p.worker, [split](Status s) { split->part_done(s); });
    on_worker(p.worker, [at = offset + p.start, v = slice(iov, p.start, p.length),
                         reply = std::move(reply)](Engine& e) { e.readv(at, v, reply); });
  }
}

void EngineWorkers::lend(uint64_t offset, uint64_t length, LendDone done) {
  std::vector<Part> parts = route(offset, length);
  if (parts.size() == 1) {
    int w = parts[0].worker;
    on_worker(w, [offset, length, d = home_side<Result<LentBytes>>(w, std::move(done))](
                     Engine& e) { e.lend(offset, length, d); });
    return;
  }
  auto split = std::make_shared<Split>();
  split->remaining = parts.size();
  split->lent = std::move(done);
  split->pieces.resize(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    const Part& p = parts[i];
    auto reply = home_side<Result<LentBytes>>(p.worker, [split, i](Result<LentBytes> got) {
      if (got.ok()) split->pieces[i] = std::move(got).value();
      split->part_done(got.ok() ? Status{} : Status(got.error()));
    });
    on_worker(p.worker, [at = offset + p.start, n = p.length, reply = std::move(reply)](Engine& e) {
      e.lend(at, n, reply);
    });
  }
}

HintReport EngineWorkers::set_hints(const std::vector<std::string>& paths) {
  for (int w = 1; w < count(); ++w)
    on_worker(w, [paths](Engine& e) { e.set_hints(paths); });
  return workers_[0]->engine->set_hints(paths);
}

uint32_t EngineWorkers::prefetch_window() const { return workers_[0]->engine->prefetch_window(); }

}  // namespace shoal
