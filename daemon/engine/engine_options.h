// Every knob of the block engine, with its defaults, and the checks Engine::create
// runs on them. docs/engine.md explains what each one does and why the defaults are what they
// are.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace shoal {

enum class PrefetchMode {
  kCrossFile,  // readahead inside large objects and next objects in layout order
  kNone,       // direct mode, for random reads: only what readers ask for is fetched
};

// "cross-file" or "none" (the config spelling).
Result<PrefetchMode> parse_prefetch_mode(std::string_view text);
std::string_view to_string(PrefetchMode mode);

struct EngineOptions {
  // Objects up to this size are fetched whole; larger ones in aligned chunks.
  uint64_t whole_object_max = 4ull << 20;
  uint64_t chunk_size = 1ull << 20;  // a multiple of 4096
  int max_gets_in_flight = 128;
  double max_gets_per_second = 0;  // 0: no cap

  PrefetchMode prefetch = PrefetchMode::kCrossFile;
  uint32_t prefetch_window_initial = 4;  // objects ahead in layout order
  uint32_t prefetch_window_max = 64;
  uint32_t readahead_chunks = 4;  // chunks ahead inside a large object

  // Fill the cache in layout order at start, up to its budget, at the lowest priority.
  bool warm_all = false;
  // Volume paths in the order the job will read them; prefetched in that order.
  std::vector<std::string> hints;

  // Set when this engine is one of several workers sharing a volume (engine_workers.h): it
  // prefetches and warms only the objects owns() holds, since reads of the others are routed
  // to their own workers and a second copy of them would only waste GETs and budget. Empty:
  // every object is this engine's.
  std::function<bool(uint32_t object)> owns;

  // Where the engine reports what an operator must see (a changed object). Default: a
  // warning in the program's log (common/log.h).
  std::function<void(std::string_view)> log;
};

// The largest fetch an engine with these options can issue.
uint64_t max_fetch_unit(const EngineOptions& options);

// Refuses options no engine can run with, with a message naming the knob. The cache budget
// must hold at least four of the largest fetch units, so a demand fetch always finds room once
// the fetches ahead of it finish (it can never wait on a budget it could never get).
Status validate(const EngineOptions& options, uint64_t cache_budget);

}  // namespace shoal
