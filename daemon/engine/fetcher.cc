#include "daemon/engine/fetcher.h"

#include <algorithm>

#include "index/version_pin.h"

namespace shoal::engine {
namespace {

constexpr size_t kDemand = static_cast<size_t>(Priority::kDemand);
// When a demand fetch waits on budget held only by buffers readers still use (nothing in
// flight will complete to wake it), it looks again after this long.
constexpr std::chrono::milliseconds kBudgetRecheck{5};

CacheKey unpack(uint64_t key) {
  return CacheKey{static_cast<uint32_t>(key >> 32), static_cast<uint32_t>(key)};
}

}  // namespace

Fetcher::Fetcher(Reactor& reactor, ObjectStore& store, MemoryCache& cache,
                 const index::IndexFile& index, FetcherConfig config, EngineMetrics& metrics)
    : reactor_(reactor),
      store_(store),
      cache_(cache),
      index_(index),
      config_(std::move(config)),
      metrics_(metrics),
      if_match_(store.capabilities().if_match),
      prefetch_slots_(std::max(1, config_.max_in_flight - config_.max_in_flight / 4)),
      bucket_(config_.max_per_second) {}

Fetcher::~Fetcher() {
  if (wake_timer_ != 0) reactor_.cancel_timer(wake_timer_);
  metrics_.gets_in_flight.add(-in_flight_);
}

const Error* Fetcher::changed(uint32_t object) const {
  auto it = changed_.find(object);
  return it == changed_.end() ? nullptr : &it->second;
}

std::string Fetcher::full_key(uint32_t object) const {
  return config_.key_prefix + std::string(index_.key(index_.objects()[object]));
}

void Fetcher::fetch(CacheKey unit, Priority priority, UnitDone done) {
  if (const Error* error = changed(unit.object)) {
    if (done) {
      reactor_.post([alive = std::weak_ptr<bool>(alive_), done = std::move(done), e = *error] {
        if (!alive.expired()) done(e);
      });
    }
    return;
  }
  uint64_t key = unit.packed();
  auto [it, fresh] = pending_.try_emplace(key);
  Pending& p = it->second;
  bool lift = fresh || (!p.started && priority < p.priority);
  if (!fresh && priority == Priority::kDemand && !p.demand) ++prefetch_joined_;
  if (priority == Priority::kDemand) p.demand = true;
  if (lift) {
    p.priority = priority;
    queues_[static_cast<size_t>(priority)].push_back(key);
  }
  if (done) p.waiters.push_back(std::move(done));
  pump();
}

// Reentrant calls (a waiter asking for more) only flag another round, so the queues are
// walked by one loop at a time.
void Fetcher::pump() {
  if (pumping_) {
    repump_ = true;
    return;
  }
  pumping_ = true;
  do {
    repump_ = false;
    while (start_next()) {
    }
  } while (repump_);
  pumping_ = false;
}

bool Fetcher::slot_free(size_t priority) const {
  return in_flight_ < (priority == kDemand ? config_.max_in_flight : prefetch_slots_);
}

void Fetcher::wake_later(std::chrono::milliseconds delay) {
  if (wake_timer_ != 0) return;
  wake_timer_ = reactor_.add_timer(delay, [this] {
    wake_timer_ = 0;
    pump();
  });
}

// Starts (or drops) the first queued fetch of the highest priority. False when nothing can
// move now: queues empty, slots taken, rate cap reached or demand waiting for budget.
bool Fetcher::start_next() {
  for (size_t prio = 0; prio < queues_.size(); ++prio) {
    std::deque<uint64_t>& queue = queues_[prio];
    while (!queue.empty()) {
      auto it = pending_.find(queue.front());
      if (it != pending_.end() && !it->second.started &&
          static_cast<size_t>(it->second.priority) == prio)
        break;
      queue.pop_front();  // finished, started, or lifted to another queue
    }
    if (queue.empty()) continue;
    if (!slot_free(prio)) return false;
    std::chrono::milliseconds wait = bucket_.wait(Reactor::Clock::now());
    if (wait.count() > 0) {
      wake_later(wait);
      return false;
    }
    uint64_t key = queue.front();
    CacheKey unit = unpack(key);
    if (const Error* error = changed(unit.object)) {
      complete(key, *error, Delivery::kPosted);
      return true;
    }
    const index::ObjectRecord& r = index_.objects()[unit.object];
    Result<CacheReservation> reserved = cache_.reserve(config_.geometry.unit_length(r, unit.chunk));
    if (!reserved.ok()) {
      if (prio == kDemand && reserved.error().kind == ErrorKind::kNoSpace) {
        if (in_flight_ == 0) wake_later(kBudgetRecheck);
        return false;  // a completing GET frees budget and pumps again
      }
      if (prio != kDemand) metrics_.prefetch_dropped.inc();
      complete(key, std::move(reserved).error(), Delivery::kPosted);
      return true;
    }
    bucket_.take(Reactor::Clock::now());
    start_get(key, pending_.at(key), std::move(*reserved));
    return true;
  }
  return false;
}

void Fetcher::start_get(uint64_t key, Pending& p, CacheReservation reservation) {
  CacheKey unit = unpack(key);
  const index::ObjectRecord& r = index_.objects()[unit.object];
  p.started = true;
  p.reservation = std::move(reservation);
  p.started_at = Reactor::Clock::now();
  ++in_flight_;
  metrics_.gets.inc();
  metrics_.gets_in_flight.add(1);
  GetQuery query = index::pinned_get(index_, r, full_key(unit.object),
                                     ByteRange{config_.geometry.unit_offset(r, unit.chunk),
                                               config_.geometry.unit_length(r, unit.chunk)},
                                     if_match_);
  // The body lands in the reservation's pool buffer. The buffer travels with the store's
  // callback, not with the pending entry: if this fetcher goes away first, the store may still
  // be writing into it, and it must stay the GET's until the store lets go of the callback.
  auto body = std::make_shared<PoolBuffer>(std::move(p.reservation.buffer()));
  query.into = body->iovecs();
  store_.get(std::move(query), [this, alive = std::weak_ptr<bool>(alive_), key,
                                body](Result<GetReply> reply) {
    if (!alive.expired()) on_reply(key, std::move(*body), std::move(reply));
  });
}

void Fetcher::on_reply(uint64_t key, PoolBuffer body, Result<GetReply> reply) {
  auto it = pending_.find(key);
  --in_flight_;
  metrics_.gets_in_flight.add(-1);
  if (it == pending_.end()) return;  // cannot happen: a started fetch stays until its reply
  metrics_.get_latency.observe(
      std::chrono::duration<double>(Reactor::Clock::now() - it->second.started_at).count());
  it->second.reservation.buffer() = std::move(body);
  Result<CacheBuffer> result = accept(unpack(key), it->second, std::move(reply));
  complete(key, result, Delivery::kNow);
  metrics_.sync_cache(cache_.stats());
  pump();
}

// The reply's bytes into the cache, if they are the indexed version's and complete.
Result<CacheBuffer> Fetcher::accept(CacheKey unit, Pending& p, Result<GetReply> reply) {
  const index::ObjectRecord& r = index_.objects()[unit.object];
  if (!reply.ok()) {
    metrics_.get_errors.inc();
    if (index::means_changed(reply.error().kind))
      return mark_changed(unit.object, reply.error().describe());
    return std::move(reply).error().with_context("reading " + full_key(unit.object));
  }
  metrics_.get_bytes.inc(reply->size());
  if (auto mismatch = index::version_mismatch(index_, r, reply->info))
    return mark_changed(unit.object, *mismatch);
  uint64_t offset = config_.geometry.unit_offset(r, unit.chunk);
  uint64_t length = config_.geometry.unit_length(r, unit.chunk);
  if (reply->offset != offset || reply->size() != length) {
    metrics_.get_errors.inc();
    return Error(ErrorKind::kIntegrity,
                 "reading " + full_key(unit.object) + ": asked for " + std::to_string(length) +
                     " bytes at " + std::to_string(offset) + ", got " +
                     std::to_string(reply->size()) + " at " + std::to_string(reply->offset));
  }
  CacheOrigin origin = p.demand ? CacheOrigin::kDemand : CacheOrigin::kPrefetch;
  if (reply->in_place) return cache_.insert(std::move(p.reservation), unit, length, origin);
  // A store (or an answer) that could not write in place: one copy into the pool buffer.
  return cache_.insert_copy(std::move(p.reservation), unit, reply->data, origin);
}

Error Fetcher::mark_changed(uint32_t object, const std::string& reason) {
  auto [it, fresh] = changed_.try_emplace(object);
  if (fresh) {
    std::string key = full_key(object);
    it->second = Error(ErrorKind::kPreconditionFailed,
                       key + " changed or was deleted since the volume was indexed (" + reason +
                           "); its reads fail with EIO until the index is rebuilt");
    metrics_.changed_objects.inc();
    if (config_.log) config_.log(it->second.message);
  }
  return it->second;
}

void Fetcher::complete(uint64_t key, const Result<CacheBuffer>& result, Delivery delivery) {
  auto node = pending_.extract(key);
  if (node.empty()) return;
  for (UnitDone& waiter : node.mapped().waiters) {
    if (delivery == Delivery::kNow) {
      waiter(result);
      continue;
    }
    reactor_.post([alive = std::weak_ptr<bool>(alive_), waiter = std::move(waiter), result] {
      if (!alive.expired()) waiter(result);
    });
  }
}

}  // namespace shoal::engine
