// The memory behind cache and in-flight buffers: one arena of pages that shoald keeps and
// reuses, so a GET in steady state neither maps nor faults in nor zeroes a single new page.
//
// The arena is one private anonymous mapping of the pool's capacity (address space only,
// MAP_NORESERVE; transparent huge pages asked for with MADV_HUGEPAGE). A buffer is a list of
// 4 KiB pages of it, in runs of consecutive pages: any free page serves any buffer, so memory
// freed by evicting a 1 MiB chunk serves the next 100 KB object and no size class can starve
// another. Pages never used yet are handed out in address order, and only when no freed page
// is left: the arena is touched front to back once, while the cache first fills (huge pages
// make that 512 faults per GiB), and never again. Nothing is ever unmapped or given back to
// the kernel while the pool lives, which is why what the pool holds is exactly what shoald's
// RSS pays for it: touched_bytes() ≤ capacity, all the time.
//
// Accounting: a buffer of n bytes holds footprint(n) = n rounded up to whole pages. The cache
// charges each reservation and entry exactly that (docs/cache.md), so the bytes the budget
// counts equal held_bytes() here.
//
// Ownership and threads: the pool is shared (std::shared_ptr) by whoever allocates from it and
// by every buffer it handed out, so a buffer a reader still holds stays valid after its cache,
// and even the pool's other owners, are gone; its pages return when its last holder drops it.
// allocate() and the return of pages lock one mutex, once per buffer (never per page or per
// byte), so buffers may be released on any thread and several worker loops may allocate from
// one pool, each cache keeping its own budget within the pool's capacity. Reading and writing
// a buffer's bytes is not synchronised: a buffer is written by one fetch and only read after
// it is published.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.h"

namespace shoal {

class BufferPool;

// Bytes in pool pages, laid out as a few runs of consecutive pages. Move-only; destroying it
// returns its pages to the pool. An empty PoolBuffer (default-constructed or moved from)
// holds nothing.
class PoolBuffer {
 public:
  PoolBuffer() = default;
  PoolBuffer(PoolBuffer&& other) noexcept;
  PoolBuffer& operator=(PoolBuffer&& other) noexcept;
  PoolBuffer(const PoolBuffer&) = delete;
  PoolBuffer& operator=(const PoolBuffer&) = delete;
  ~PoolBuffer() { reset(); }

  // Bytes of data: what it was allocated for, or less after shrink().
  uint64_t size() const { return size_; }
  // Bytes of pages held: footprint(size()).
  uint64_t held() const;
  // The memory of [0, size()) as iovecs, one per run: where a store writes a body.
  std::vector<iovec> iovecs() const;
  // Calls f(const char* piece, uint64_t n) for each contiguous piece of [offset, offset + n),
  // in order. The range must lie inside size().
  template <class F>
  void for_each_piece(uint64_t offset, uint64_t n, F&& f) const;
  // Copies bytes in and out; the range must lie inside size().
  void write(uint64_t offset, std::string_view bytes);
  void read(uint64_t offset, uint64_t n, char* out) const;
  std::string to_string() const;  // all of it, for tests and diagnostics

  // Keeps the first `bytes` (≤ size()) and returns the pages past them to the pool.
  void shrink(uint64_t bytes);
  void reset();  // returns every page

 private:
  friend class BufferPool;
  struct Run {
    uint32_t first;  // page number in the arena
    uint32_t count;
  };
  char* run_base(const Run& r) const;

  std::shared_ptr<BufferPool> pool_;
  std::vector<Run> runs_;
  uint64_t size_ = 0;
};

struct BufferPoolStats {
  uint64_t capacity_bytes = 0;  // the arena: the most the pool will ever hold
  uint64_t touched_bytes = 0;   // pages ever handed out: what the pool costs in RSS
  uint64_t held_bytes = 0;      // pages in buffers now
  uint64_t allocations = 0;     // allocate() calls that succeeded
  uint64_t fresh_pages = 0;     // pages handed out for the first time (each a page fault once)
  uint64_t refused = 0;         // allocate() calls that found too few free pages
  uint64_t prefaulted_bytes = 0;  // faulted in by the prefault thread so far
  bool prefault_done = false;     // the prefault thread has finished (or none was asked for)
};

class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  static constexpr uint64_t kPageSize = 4096;
  struct Options {
    bool huge_pages = true;  // MADV_HUGEPAGE on the arena (ignored where THP is unavailable)
    // Fault the whole arena in at once, on a thread of its own, instead of page by page as the
    // cache first fills: the kernel's zeroing then happens off the loop that serves reads and
    // before the first epoch, at the price of holding the whole capacity in RSS from the start.
    // MADV_POPULATE_WRITE never changes a page's bytes, so buffers may be handed out and
    // written meanwhile; without it (Linux < 5.14) the pool just fills page by page.
    bool prefault = false;
  };

  // What a buffer of `bytes` holds: whole pages (0 for 0 bytes).
  static constexpr uint64_t footprint(uint64_t bytes) {
    return (bytes + kPageSize - 1) / kPageSize * kPageSize;
  }

  // An arena of capacity_bytes rounded down to pages (at least one page). Fails when the
  // address space cannot be mapped.
  static Result<std::shared_ptr<BufferPool>> create(uint64_t capacity_bytes, Options options);
  static Result<std::shared_ptr<BufferPool>> create(uint64_t capacity_bytes) {
    return create(capacity_bytes, Options{});
  }
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // A buffer of `bytes` (contents unspecified: recycled pages keep old bytes, never zeroed).
  // Fails with kNoSpace when fewer than footprint(bytes) are free.
  Result<PoolBuffer> allocate(uint64_t bytes);

  BufferPoolStats stats() const;
  uint64_t capacity() const { return uint64_t{pages_} * kPageSize; }

 private:
  BufferPool(char* map, uint64_t map_bytes, char* base, uint32_t pages);
  void prefault();
  void give_back(const std::vector<PoolBuffer::Run>& runs, size_t from);
  friend class PoolBuffer;

  char* map_;  // the whole mapping (base_ aligned inside it for huge pages)
  uint64_t map_bytes_;
  char* base_;
  uint32_t pages_;

  mutable std::mutex mutex_;
  // Freed pages, popped from the back. A buffer's pages are pushed highest first, so the next
  // buffer gets them back in ascending order: the same runs, not a scatter of single pages.
  std::vector<uint32_t> free_;
  uint32_t next_fresh_ = 0;  // pages below it have been touched
  uint64_t held_pages_ = 0;
  uint64_t allocations_ = 0;
  uint64_t refused_ = 0;

  std::thread prefaulter_;
  std::atomic<bool> stop_prefault_{false};
  std::atomic<uint64_t> prefaulted_bytes_{0};
  std::atomic<bool> prefault_done_{true};
};

template <class F>
void PoolBuffer::for_each_piece(uint64_t offset, uint64_t n, F&& f) const {
  for (const Run& r : runs_) {
    if (n == 0) return;
    uint64_t run_bytes = uint64_t{r.count} * BufferPool::kPageSize;
    if (offset >= run_bytes) {
      offset -= run_bytes;
      continue;
    }
    uint64_t m = std::min(n, run_bytes - offset);
    f(static_cast<const char*>(run_base(r) + offset), m);
    n -= m;
    offset = 0;
  }
}

}  // namespace shoal
