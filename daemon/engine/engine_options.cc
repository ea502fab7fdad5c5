#include "daemon/engine/engine_options.h"

#include <algorithm>
#include <cmath>

#include "index/index_file.h"

namespace shoal {
namespace {

constexpr int kMaxGetsInFlight = 65536;
constexpr uint32_t kMaxWindow = 65536;
constexpr uint64_t kMaxChunk = 1ull << 30;
constexpr uint64_t kUnitsInBudget = 4;

Error bad(const std::string& message) { return Error(ErrorKind::kInvalidArgument, message); }

}  // namespace

Result<PrefetchMode> parse_prefetch_mode(std::string_view text) {
  if (text == "cross-file") return PrefetchMode::kCrossFile;
  if (text == "none") return PrefetchMode::kNone;
  return bad("prefetch mode '" + std::string(text) + "' is unknown: use \"cross-file\" or \"none\"");
}

std::string_view to_string(PrefetchMode mode) {
  return mode == PrefetchMode::kNone ? "none" : "cross-file";
}

uint64_t max_fetch_unit(const EngineOptions& options) {
  return std::max(options.whole_object_max, options.chunk_size);
}

Status validate(const EngineOptions& o, uint64_t cache_budget) {
  if (o.chunk_size == 0 || o.chunk_size % index::kBlockSize != 0 || o.chunk_size > kMaxChunk)
    return bad("fetch.chunk_size is " + std::to_string(o.chunk_size) +
               ": it must be a multiple of 4096 between 4 KiB and 1 GiB");
  if (o.whole_object_max > kMaxChunk)
    return bad("fetch.whole_object_max is " + std::to_string(o.whole_object_max) +
               ": at most 1 GiB (larger objects are fetched in chunks)");
  if (o.max_gets_in_flight < 1 || o.max_gets_in_flight > kMaxGetsInFlight)
    return bad("fetch.max_in_flight is " + std::to_string(o.max_gets_in_flight) +
               ": it must be between 1 and " + std::to_string(kMaxGetsInFlight));
  if (!std::isfinite(o.max_gets_per_second) || o.max_gets_per_second < 0)
    return bad("fetch.max_requests_per_second must be 0 (no cap) or a positive number");
  if (o.prefetch_window_max < 1 || o.prefetch_window_max > kMaxWindow)
    return bad("prefetch.window_max is " + std::to_string(o.prefetch_window_max) +
               ": it must be between 1 and " + std::to_string(kMaxWindow));
  if (o.prefetch_window_initial < 1 || o.prefetch_window_initial > o.prefetch_window_max)
    return bad("prefetch.window_initial is " + std::to_string(o.prefetch_window_initial) +
               ": it must be between 1 and prefetch.window_max (" +
               std::to_string(o.prefetch_window_max) + ")");
  uint64_t unit = max_fetch_unit(o);
  if (cache_budget / kUnitsInBudget < unit)
    return bad("cache.memory is " + std::to_string(cache_budget) + " bytes: it must hold at least " +
               std::to_string(kUnitsInBudget) + " of the largest fetch units (" +
               std::to_string(kUnitsInBudget * unit) +
               " bytes with these fetch.whole_object_max and fetch.chunk_size)");
  return {};
}

}  // namespace shoal
