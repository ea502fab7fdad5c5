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

// The zeros a lent read points at for holes and the tail of an object's last block.
constexpr uint64_t kZeroBytes = 128 * 1024;
alignas(4096) const char kZeros[kZeroBytes] = {};

}  // namespace

// One read: where its bytes go (copied into the caller's iovecs, or lent as pieces of cache,
// index and zero memory) and how many pieces are still on their way.
struct Engine::Request {
  // readv: the caller's buffers.
  std::vector<iovec> iov;
  std::vector<uint64_t> iov_start;  // offset of each iovec inside the request
  ReadDone done;
  // lend: the pieces as they come (pieces of a miss arrive after later hits), sorted at the end.
  bool lending = false;
  struct Piece {
    uint64_t dest;
    iovec mem;
  };
  std::vector<Piece> pieces;
  std::vector<std::shared_ptr<const void>> holds;
  LendDone lent;
  // Cache pages are lent pinned, and a pinned entry cannot be evicted; a read waiting for a
  // miss must not pin what it already has, or reads waiting on each other could hold the whole
  // budget. Such a read copies its pieces here instead, and lends only what arrives last.
  std::shared_ptr<char[]> own;
  bool copy_held = false;

  uint64_t length = 0;
  size_t pending = 1;  // pieces waiting for a fetch, plus one while the read lays them out
  bool finished = false;
  Reactor::Clock::time_point started = Reactor::Clock::now();

  // n bytes from src (zeros when src is null) for request offset `dest`; src stays valid for
  // as long as `hold` (or, when hold is null, for as long as the engine).
  void put(uint64_t dest, const char* src, uint64_t n, const std::shared_ptr<const void>& hold) {
    if (!lending) {
      fill(dest, src, n);
      return;
    }
    if (hold != nullptr && copy_held && pending > 1) {
      std::memcpy(own_bytes() + dest, src, n);
      pieces.push_back(Piece{dest, iovec{own_bytes() + dest, n}});
      return;
    }
    if (hold != nullptr && (holds.empty() || holds.back() != hold)) holds.push_back(hold);
    while (n > 0) {
      uint64_t m = src != nullptr ? n : std::min(n, kZeroBytes);
      pieces.push_back(Piece{dest, iovec{const_cast<char*>(src != nullptr ? src : kZeros), m}});
      dest += m;
      n -= m;
      if (src != nullptr) src += m;
    }
  }

  char* own_bytes() {
    if (own == nullptr) {
      own = std::make_shared_for_overwrite<char[]>(length);
      holds.push_back(own);
    }
    return own.get();
  }

  // From now on pieces of cache buffers are copied, and those already lent are copied back.
  void stop_pinning() {
    copy_held = true;
    for (Piece& p : pieces) {
      if (p.mem.iov_base == kZeros || is_metadata(p.mem.iov_base)) continue;
      std::memcpy(own_bytes() + p.dest, p.mem.iov_base, p.mem.iov_len);
      p.mem.iov_base = own_bytes() + p.dest;
    }
    std::erase_if(holds, [this](const std::shared_ptr<const void>& h) { return h != own; });
  }
  const char* metadata_begin = nullptr;
  const char* metadata_end = nullptr;
  bool is_metadata(const void* p) const {
    auto c = static_cast<const char*>(p);
    return c >= metadata_begin && c < metadata_end;
  }

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

  // The pieces in device order, neighbours in memory merged: what lend() hands out.
  LentBytes take_lent() {
    std::sort(pieces.begin(), pieces.end(),
              [](const Piece& a, const Piece& b) { return a.dest < b.dest; });
    LentBytes out;
    out.iov.reserve(pieces.size());
    for (const Piece& p : pieces) {
      if (!out.iov.empty()) {
        iovec& last = out.iov.back();
        if (static_cast<char*>(last.iov_base) + last.iov_len == p.mem.iov_base &&
            p.mem.iov_base != kZeros) {
          last.iov_len += p.mem.iov_len;
          continue;
        }
      }
      out.iov.push_back(p.mem);
    }
    out.holds = std::move(holds);
    return out;
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
  start(request, offset);
}

void Engine::lend(uint64_t offset, uint64_t length, LendDone done) {
  auto request = std::make_shared<Request>();
  request->lending = true;
  request->lent = std::move(done);
  request->length = length;
  request->metadata_begin = reinterpret_cast<const char*>(index_.metadata().data());
  request->metadata_end = request->metadata_begin + index_.metadata().size();
  start(request, offset);
}

void Engine::start(const std::shared_ptr<Request>& request, uint64_t offset) {
  metrics_.requests.inc();
  uint64_t size = size_bytes();
  if (!within_device(size, offset, request->length)) {
    finish(*request, past_end_error(offset, request->length,
                                    "the " + std::to_string(size) + "-byte device"));
    return;
  }
  for (const engine::ReadStep& step :
       engine::plan_read(index_, geometry_, offset, request->length)) {
    if (request->finished) break;
    switch (step.kind) {
      case engine::ReadStep::Kind::kMetadata:
        request->put(step.dest,
                     reinterpret_cast<const char*>(index_.metadata().data()) + step.source,
                     step.length, nullptr);
        break;
      case engine::ReadStep::Kind::kZeros:
        request->put(step.dest, nullptr, step.length, nullptr);
        break;
      case engine::ReadStep::Kind::kObject:
        serve_piece(request, step);
        break;
    }
  }
  // Misses outstanding: this read may wait, so it holds copies, not pins (see Request::own).
  if (request->lending && request->pending > 1 && !request->finished) request->stop_pinning();
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
  // Straight from the cache buffer's pages into the caller's iovecs (the one copy a readv
  // costs), or lent as they are.
  uint64_t dest = step.dest;
  buffer->for_each_piece(step.source, step.length, [&](const char* piece, uint64_t n) {
    request.put(dest, piece, n, buffer);
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
  if (request.lending) {
    Result<LentBytes> lent = status.ok() ? Result<LentBytes>(request.take_lent())
                                         : Result<LentBytes>(std::move(status).error());
    request.pieces.clear();
    reactor_.post([done = std::move(request.lent), lent = std::move(lent)]() mutable {
      done(std::move(lent));
    });
    return;
  }
  reactor_.post([done = std::move(request.done), status = std::move(status)] { done(status); });
}

}  // namespace shoal
