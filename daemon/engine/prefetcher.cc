#include "daemon/engine/prefetcher.h"

#include <algorithm>

namespace shoal::engine {
namespace {

constexpr size_t kMaxStreams = 8;
// Warm-all units queued or in flight at a time: enough to keep its free GET slots busy
// without filling the queues with the whole volume.
constexpr int kWarmDepth = 16;
// The most hinted objects fetched ahead of the last hinted read (see hint_window_max_).
constexpr uint64_t kMaxHintWindow = 4096;

}  // namespace

Prefetcher::Prefetcher(const index::IndexFile& index, MemoryCache& cache, Fetcher& fetcher,
                       FetchGeometry geometry, const EngineOptions& options,
                       EngineMetrics& metrics)
    : index_(index),
      cache_(cache),
      fetcher_(fetcher),
      geometry_(geometry),
      mode_(options.prefetch),
      window_max_(options.prefetch_window_max),
      readahead_chunks_(options.readahead_chunks),
      metrics_(metrics),
      owns_(options.owns),
      window_(options.prefetch_window_initial),
      hint_window_(std::max<uint32_t>(1, options.prefetch_window_initial)) {
  metrics_.prefetch_window.add(window_);
  metrics_.hint_window.add(hint_window_);
}

void Prefetcher::on_read(CacheKey unit, bool miss) {
  adapt_to_cache();
  follow_hints(unit.object);
  if (mode_ == PrefetchMode::kNone) return;
  if (geometry_.chunked(index_.objects()[unit.object])) readahead(unit.object, unit.chunk);
  uint64_t position = 0;
  if (layout_position(unit.object, position)) cross_file(position, miss);
}

void Prefetcher::set_hint_window(uint32_t window) {
  metrics_.hint_window.add(int64_t{window} - int64_t{hint_window_});
  hint_window_ = window;
}

void Prefetcher::set_window(uint32_t window) {
  if (window == window_) return;
  metrics_.prefetch_window.add(int64_t{window} - int64_t{window_});
  window_ = window;
}

// Evidence from the cache, for every kind of prefetch: prefetched units evicted unread
// outnumbering those used means the windows run further ahead than the budget can hold.
void Prefetcher::adapt_to_cache() {
  CacheStats stats = cache_.stats();
  uint64_t used = stats.prefetch_used + fetcher_.prefetch_joined();
  uint64_t used_since = used - used_mark_;
  uint64_t wasted_since = stats.prefetch_wasted - wasted_mark_;
  if (wasted_since > used_since) {
    set_window(window_ / 2);
    set_hint_window(std::max<uint32_t>(1, hint_window_ / 2));
  } else if (used_since >= hint_window_) {
    // Hints are the job's own list: used means the list is right and may run further ahead.
    set_hint_window(std::min(hint_window_ceiling(), hint_window_ * 2));
  } else {
    return;
  }
  used_mark_ = used;
  wasted_mark_ = stats.prefetch_wasted;
}

// Evidence from the readers, for cross-file prefetch: a read one step forward of a stream
// (inside what it prefetched, or just past it) says the job walks the layout; a miss that no
// stream explains is a jump. Cache counters alone cannot tell the two apart in time: in a
// random epoch a prefetched neighbour is read sooner or later anyway, and evictions show the
// waste only once the cache is full, so the window would stay open for half an epoch.
void Prefetcher::adapt_to_reader(Move move) {
  if (move == Move::kForward) ++forward_since_;
  if (move == Move::kJump) ++jumps_since_;
  if (jumps_since_ >= 2 && jumps_since_ > forward_since_) {
    set_window(window_ / 2);  // down to 0: no cross-file GET at all until readers step again
  } else if (forward_since_ >= std::max<uint32_t>(1, window_)) {
    set_window(window_ == 0 ? 1 : std::min(window_max_, window_ * 2));
  } else {
    return;
  }
  forward_since_ = 0;
  jumps_since_ = 0;
}

// Only a sequential reader (at the start of the object or right after the previous chunk)
// gets readahead; a random reader of a large object would waste it.
void Prefetcher::readahead(uint32_t object, uint32_t chunk) {
  if (chunk != 0 && !cache_.contains(CacheKey{object, chunk - 1})) return;
  const index::ObjectRecord& r = index_.objects()[object];
  uint32_t end = static_cast<uint32_t>(
      std::min<uint64_t>(geometry_.unit_count(r), uint64_t{chunk} + 1 + readahead_chunks_));
  for (uint32_t c = chunk + 1; c < end; ++c) prefetch_unit(CacheKey{object, c}, Priority::kReadahead);
}

void Prefetcher::cross_file(uint64_t position, bool miss) {
  auto stream = std::find_if(streams_.begin(), streams_.end(), [&](const Stream& s) {
    return s.reader <= position && position <= s.next;
  });
  if (stream == streams_.end()) {
    if (!miss) return;  // cached by someone else's prefetch, warm-all or an earlier read
    adapt_to_reader(Move::kJump);
    if (streams_.size() < kMaxStreams) {
      stream = streams_.emplace(streams_.end());
    } else {
      stream = std::min_element(streams_.begin(), streams_.end(),
                                [](const Stream& a, const Stream& b) { return a.used_at < b.used_at; });
    }
    *stream = Stream{position, position + 1, 0};
  } else if (position > stream->reader) {
    adapt_to_reader(Move::kForward);
  }  // else another part of the object last read: no news
  stream->reader = position;
  stream->used_at = ++clock_;
  uint64_t end = std::min<uint64_t>(index_.extents().size(), position + 1 + window_);
  // Prefetched objects wait unread in the cache's probation queue; a window holding more than
  // half of it would evict its own far end before the reader gets there (and count it as
  // waste). So the window is also capped in bytes ahead of the reader, which only bites for
  // caches of a few MiB.
  uint64_t ahead = 0;
  uint64_t limit = cache_.probation_bytes() / 2;
  for (uint64_t p = position + 1; p < end; ++p) {
    const index::ObjectRecord& r = index_.objects()[index_.extents()[p].object];
    ahead += MemoryCache::footprint(geometry_.unit_length(r, 0));
    if (ahead > limit && p > position + 1) {
      end = p;
      break;
    }
  }
  for (uint64_t p = std::max(stream->next, position + 1); p < end; ++p)
    prefetch_object(index_.extents()[p].object, Priority::kCrossFile);
  stream->next = std::max(stream->next, std::max(end, position + 1));
}

void Prefetcher::follow_hints(uint32_t object) {
  auto it = hint_position_.find(object);
  if (it == hint_position_.end()) return;
  uint64_t end = std::min<uint64_t>(hints_.size(), it->second + 1 + hint_window_);
  for (; hints_next_ < end; ++hints_next_) prefetch_object(hints_[hints_next_], Priority::kCrossFile);
}

void Prefetcher::prefetch_object(uint32_t object, Priority priority) {
  prefetch_unit(CacheKey{object, 0}, priority);
}

// Every kind of prefetch ends here, so a worker's hints and windows, which cover the whole
// volume's layout, fetch only what that worker owns: the owners of the rest see their own reads
// and follow the same hint list.
void Prefetcher::prefetch_unit(CacheKey unit, Priority priority) {
  if (!mine(unit.object)) return;
  if (cache_.contains(unit) || fetcher_.pending(unit) || fetcher_.changed(unit.object)) return;
  fetcher_.fetch(unit, priority, nullptr);
}

bool Prefetcher::layout_position(uint32_t object, uint64_t& position) const {
  const index::ObjectRecord& r = index_.objects()[object];
  const index::Extent* e = index_.find_extent(r.first_block);
  if (e == nullptr || e->object != object) return false;
  position = static_cast<uint64_t>(e - index_.extents().data());
  return true;
}

const std::unordered_map<std::string_view, uint32_t>& Prefetcher::paths() {
  if (!paths_.empty()) return paths_;
  std::span<const index::ObjectRecord> objects = index_.objects();
  paths_.reserve(objects.size());
  for (uint32_t id = 0; id < objects.size(); ++id) {
    const index::ObjectRecord& r = objects[id];
    if ((r.flags & index::kObjectNotInVolume) == 0 && r.size > 0) paths_.emplace(index_.key(r), id);
  }
  return paths_;
}

HintReport Prefetcher::set_hints(const std::vector<std::string>& paths_in_order) {
  HintReport report;
  hints_.clear();
  hint_position_.clear();
  hints_next_ = 0;
  const auto& by_path = paths();
  for (const std::string& path : paths_in_order) {
    std::string_view p = path;
    while (p.starts_with('/')) p.remove_prefix(1);
    auto it = by_path.find(p);
    if (it == by_path.end()) {
      report.unknown.push_back(path);
      continue;
    }
    hint_position_.try_emplace(it->second, hints_.size());
    hints_.push_back(it->second);
  }
  report.matched = hints_.size();
  uint64_t footprints = 0;
  for (uint32_t object : hints_)
    footprints += MemoryCache::footprint(geometry_.unit_length(index_.objects()[object], 0));
  uint64_t mean = hints_.empty() ? 0 : std::max<uint64_t>(1, footprints / hints_.size());
  uint64_t by_bytes = mean == 0 ? kMaxHintWindow : cache_.probation_bytes() / 2 / mean;
  hint_window_max_ = static_cast<uint32_t>(std::clamp<uint64_t>(by_bytes, 1, kMaxHintWindow));
  set_hint_window(std::min(hint_window_, hint_window_max_));
  uint64_t end = std::min<uint64_t>(hints_.size(), hint_window_);
  for (; hints_next_ < end; ++hints_next_) prefetch_object(hints_[hints_next_], Priority::kCrossFile);
  return report;
}

void Prefetcher::warm_all() {
  if (warming_) return;
  warming_ = true;
  warm_extent_ = 0;
  warm_chunk_ = 0;
  warm_next();
}

// Fetches the next units in layout order while the cache has room for them without evicting.
void Prefetcher::warm_next() {
  std::span<const index::Extent> extents = index_.extents();
  while (warming_ && warm_outstanding_ < kWarmDepth) {
    if (warm_extent_ >= extents.size()) {
      warming_ = false;
      return;
    }
    uint32_t object = extents[warm_extent_].object;
    const index::ObjectRecord& r = index_.objects()[object];
    CacheKey unit{object, warm_chunk_};
    if (++warm_chunk_ >= geometry_.unit_count(r)) {
      warm_chunk_ = 0;
      ++warm_extent_;
    }
    if (!mine(object) || cache_.contains(unit) || fetcher_.pending(unit) ||
        fetcher_.changed(object))
      continue;
    CacheStats stats = cache_.stats();
    if (stats.bytes + stats.inflight_bytes + geometry_.unit_length(r, unit.chunk) > cache_.budget()) {
      warming_ = false;  // full: warm-all never evicts what it brought in
      return;
    }
    ++warm_outstanding_;
    fetcher_.fetch(unit, Priority::kWarm,
                   [this, alive = std::weak_ptr<bool>(alive_)](Result<CacheBuffer> fetched) {
                     if (alive.expired()) return;
                     --warm_outstanding_;
                     if (!fetched.ok() && fetched.error().kind == ErrorKind::kNoSpace) warming_ = false;
                     warm_next();
                   });
  }
}

}  // namespace shoal::engine
