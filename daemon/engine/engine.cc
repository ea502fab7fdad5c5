#include "daemon/engine/engine.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "common/log.h"

namespace shoal {
namespace {

void log_engine_warning(std::string_view line) { log_warning("engine: " + std::string(line)); }

engine::FetchGeometry geometry_of(const EngineOptions& options) {
  return engine::FetchGeometry{options.whole_object_max, options.chunk_size};
}

}  // namespace

// One readv: where its bytes go and how many pieces are still on their way.
struct Engine::Request {
  std::vector<iovec> iov;
  std::vector<uint64_t> iov_start;  // offset of each iovec inside the request
  ReadDone done;
  uint64_t length = 0;
  size_t pending = 1;  // pieces waiting for a fetch, plus one while readv lays them out
  bool finished = false;
  Reactor::Clock::time_point started = Reactor::Clock::now();

  // Copies n bytes from src (zeros when src is null) to request offset `dest`.
  void fill(uint64_t dest, const char* src, uint64_t n) {
    size_t i = static_cast<size_t>(
        std::upper_bound(iov_start.begin(), iov_start.end(), dest) - iov_start.begin() - 1);
    for (; n > 0 && i < iov.size(); ++i) {
      uint64_t skip = dest - iov_start[i];
      if (skip >= iov[i].iov_len) continue;
      uint64_t m = std::min<uint64_t>(n, iov[i].iov_len - skip);
      char* out = static_cast<char*>(iov[i].iov_base) + skip;
      if (src != nullptr) {
        std::memcpy(out, src, m);
        src += m;
      } else {
        std::memset(out, 0, m);
      }
      dest += m;
      n -= m;
    }
  }
};

Result<std::unique_ptr<Engine>> Engine::create(const index::IndexFile& index, ObjectStore& store,
                                               MemoryCache& cache, Reactor& reactor,
                                               EngineOptions options, Metrics& metrics) {
  SHOAL_TRY(validate(options, cache.budget()));
  if (!options.log) options.log = log_engine_warning;
  std::unique_ptr<Engine> engine(
      new Engine(index, store, cache, reactor, options, metrics, index.build_info().prefix));
  if (!options.hints.empty()) {
    HintReport report = engine->set_hints(options.hints);
    if (!report.unknown.empty()) {
      options.log(std::to_string(report.unknown.size()) + " of " +
                  std::to_string(options.hints.size()) +
                  " hinted paths are not files with data in this volume, e.g. '" +
                  report.unknown.front() + "'");
    }
  }
  if (options.warm_all) engine->warm_all();
  return engine;
}

Engine::Engine(const index::IndexFile& index, ObjectStore& store, MemoryCache& cache,
               Reactor& reactor, const EngineOptions& options, Metrics& metrics,
               std::string key_prefix)
    : index_(index),
      cache_(cache),
      reactor_(reactor),
      geometry_(geometry_of(options)),
      metrics_(metrics),
      fetcher_(reactor, store, cache, index,
               engine::FetcherConfig{geometry_, std::move(key_prefix), options.max_gets_in_flight,
                                     options.max_gets_per_second, options.log},
               metrics_),
      prefetcher_(index, cache, fetcher_, geometry_, options, metrics_) {}

// Takes this engine's share of the cache gauges out of a registry other engines may share.
Engine::~Engine() { metrics_.withdraw_gauges(); }

HintReport Engine::set_hints(const std::vector<std::string>& paths) {
  return prefetcher_.set_hints(paths);
}

void Engine::warm_all() { prefetcher_.warm_all(); }

void Engine::readv(uint64_t offset, std::span<const iovec> iov, ReadDone done) {
  auto request = std::make_shared<Request>();
  request->done = std::move(done);
  request->iov.assign(iov.begin(), iov.end());
  for (const iovec& v : iov) {
    request->iov_start.push_back(request->length);
    request->length += v.iov_len;
  }
  metrics_.requests.inc();
  uint64_t size = size_bytes();
  if (offset > size || request->length > size - offset) {
    finish(*request, Error(ErrorKind::kInvalidArgument,
                           "read of " + std::to_string(request->length) + " bytes at offset " +
                               std::to_string(offset) + " reaches past the end of the " +
                               std::to_string(size) + "-byte device"));
    return;
  }
  for (const engine::ReadStep& step : engine::plan_read(index_, geometry_, offset, request->length)) {
    if (request->finished) break;
    switch (step.kind) {
      case engine::ReadStep::Kind::kMetadata:
        request->fill(step.dest, reinterpret_cast<const char*>(index_.metadata().data()) + step.source,
                      step.length);
        break;
      case engine::ReadStep::Kind::kZeros:
        request->fill(step.dest, nullptr, step.length);
        break;
      case engine::ReadStep::Kind::kObject:
        serve_piece(request, step);
        break;
    }
  }
  piece_done(request);
}

// One fetch unit's part of a request: from the cache, or from the fetcher (one lookup per
// unit per request, so the cache sees one use, not one per block).
void Engine::serve_piece(const std::shared_ptr<Request>& request, const engine::ReadStep& step) {
  if (const Error* changed = fetcher_.changed(step.unit.object)) {
    finish(*request, *changed);
    return;
  }
  if (CacheBuffer buffer = cache_.lookup(step.unit)) {
    metrics_.cache_hits.inc();
    copy_piece(*request, step, buffer);
    prefetcher_.on_read(step.unit, false);
    return;
  }
  metrics_.cache_misses.inc();
  ++request->pending;
  fetcher_.fetch(step.unit, engine::Priority::kDemand,
                 [this, request, step](Result<CacheBuffer> fetched) {
                   if (!fetched.ok()) {
                     finish(*request, fetched.error());
                   } else if (const Error* changed = fetcher_.changed(step.unit.object)) {
                     finish(*request, *changed);  // another unit's reply showed a new version
                   } else {
                     copy_piece(*request, step, *fetched);
                   }
                   piece_done(request);
                 });
  prefetcher_.on_read(step.unit, true);
}

void Engine::copy_piece(Request& request, const engine::ReadStep& step, const CacheBuffer& buffer) {
  if (request.finished) return;  // failed already: its buffers may be gone
  if (step.source + step.length > buffer->size()) {
    finish(request, Error(ErrorKind::kInternal,
                          "cached unit of object " + std::to_string(step.unit.object) +
                              " is shorter than its index entry"));
    return;
  }
  // Straight from the cache buffer's pages into the caller's iovecs: the one copy a read costs.
  uint64_t dest = step.dest;
  buffer->for_each_piece(step.source, step.length, [&](const char* piece, uint64_t n) {
    request.fill(dest, piece, n);
    dest += n;
  });
}

void Engine::piece_done(const std::shared_ptr<Request>& request) {
  if (--request->pending == 0) finish(*request, {});
}

// Replies once, on a later round of the loop: the first failure wins, and pieces arriving after
// it are dropped (the caller may free its buffers as soon as done runs).
void Engine::finish(Request& request, Status status) {
  if (request.finished) return;
  request.finished = true;
  if (status.ok()) metrics_.bytes_served.inc(request.length);
  else metrics_.request_errors.inc();
  metrics_.request_latency.observe(
      std::chrono::duration<double>(Reactor::Clock::now() - request.started).count());
  metrics_.sync_cache(cache_.stats());
  reactor_.post([done = std::move(request.done), status = std::move(status)] { done(status); });
}

}  // namespace shoal
