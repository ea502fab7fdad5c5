#include "daemon/cache/buffer_pool.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <limits>

namespace shoal {
namespace {

// Transparent huge pages are 2 MiB on x86-64 and arm64 (4 KiB base pages); the arena starts on
// such a boundary so every whole 2 MiB of it can be one.
constexpr uint64_t kHugePage = 2ull << 20;
// The prefault thread's step: small enough to stop quickly when the pool goes away.
constexpr uint64_t kPrefaultStep = 64ull << 20;

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14 uapi; older C libraries lack the name
#endif

}  // namespace

// ---- PoolBuffer ----------------------------------------------------------------------------

PoolBuffer::PoolBuffer(PoolBuffer&& other) noexcept
    : pool_(std::move(other.pool_)), runs_(std::move(other.runs_)), size_(other.size_) {
  other.runs_.clear();
  other.size_ = 0;
}

PoolBuffer& PoolBuffer::operator=(PoolBuffer&& other) noexcept {
  if (this != &other) {
    reset();
    pool_ = std::move(other.pool_);
    runs_ = std::move(other.runs_);
    size_ = other.size_;
    other.runs_.clear();
    other.size_ = 0;
  }
  return *this;
}

uint64_t PoolBuffer::held() const {
  uint64_t pages = 0;
  for (const Run& r : runs_) pages += r.count;
  return pages * BufferPool::kPageSize;
}

char* PoolBuffer::run_base(const Run& r) const {
  return pool_->base_ + uint64_t{r.first} * BufferPool::kPageSize;
}

std::vector<iovec> PoolBuffer::iovecs() const {
  std::vector<iovec> out;
  out.reserve(runs_.size());
  uint64_t left = size_;
  for (const Run& r : runs_) {
    if (left == 0) break;
    uint64_t n = std::min(left, uint64_t{r.count} * BufferPool::kPageSize);
    out.push_back(iovec{run_base(r), n});
    left -= n;
  }
  return out;
}

void PoolBuffer::write(uint64_t offset, std::string_view bytes) {
  const char* src = bytes.data();
  for_each_piece(offset, bytes.size(), [&](const char* piece, uint64_t n) {
    std::memcpy(const_cast<char*>(piece), src, n);  // the buffer's own, writable pages
    src += n;
  });
}

void PoolBuffer::read(uint64_t offset, uint64_t n, char* out) const {
  for_each_piece(offset, n, [&](const char* piece, uint64_t m) {
    std::memcpy(out, piece, m);
    out += m;
  });
}

std::string PoolBuffer::to_string() const {
  std::string out(size_, '\0');
  read(0, size_, out.data());
  return out;
}

void PoolBuffer::shrink(uint64_t bytes) {
  if (bytes >= size_) return;
  size_ = bytes;
  uint64_t keep = BufferPool::footprint(bytes) / BufferPool::kPageSize;
  // Cut the run lists at `keep` pages: whole runs past it, and the tail of the run it ends in.
  std::vector<Run> tail;
  uint64_t seen = 0;
  size_t i = 0;
  for (; i < runs_.size(); ++i) {
    if (seen + runs_[i].count > keep) break;
    seen += runs_[i].count;
  }
  if (i == runs_.size()) return;
  if (seen < keep) {
    uint32_t stay = static_cast<uint32_t>(keep - seen);
    tail.push_back(Run{runs_[i].first + stay, runs_[i].count - stay});
    runs_[i].count = stay;
    ++i;
  }
  tail.insert(tail.end(), runs_.begin() + static_cast<std::ptrdiff_t>(i), runs_.end());
  runs_.resize(i);
  pool_->give_back(tail, 0);
}

void PoolBuffer::reset() {
  if (pool_ != nullptr && !runs_.empty()) pool_->give_back(runs_, 0);
  runs_.clear();
  size_ = 0;
  pool_.reset();
}

// ---- BufferPool ----------------------------------------------------------------------------

Result<std::shared_ptr<BufferPool>> BufferPool::create(uint64_t capacity_bytes, Options options) {
  uint64_t pages = std::max<uint64_t>(1, capacity_bytes / kPageSize);
  if (pages > std::numeric_limits<uint32_t>::max())
    return Error(ErrorKind::kInvalidArgument,
                 "buffer pool of " + std::to_string(capacity_bytes) +
                     " bytes is larger than the 16 TiB a pool can address: lower cache.memory");
  uint64_t bytes = pages * kPageSize;
  // Room to start on a huge-page boundary. MAP_NORESERVE: the arena is address space until
  // touched, and it is touched only as the cache fills.
  uint64_t map_bytes = bytes + kHugePage;
  void* map = ::mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED)
    return errno_error("mapping a " + std::to_string(bytes) + "-byte buffer arena", errno);
  auto addr = reinterpret_cast<uintptr_t>(map);
  char* base = reinterpret_cast<char*>((addr + kHugePage - 1) / kHugePage * kHugePage);
  if (options.huge_pages) {
    // Best effort: without THP (or with it "never") the arena simply uses 4 KiB pages.
    (void)::madvise(base, bytes, MADV_HUGEPAGE);
  } else {
    (void)::madvise(base, bytes, MADV_NOHUGEPAGE);
  }
  std::shared_ptr<BufferPool> pool(
      new BufferPool(static_cast<char*>(map), map_bytes, base, static_cast<uint32_t>(pages)));
  if (options.prefault) {
    pool->prefault_done_ = false;
    // The thread only touches the mapping, never the pool object's other state, and the
    // destructor joins it before unmapping.
    pool->prefaulter_ = std::thread([p = pool.get()] { p->prefault(); });
  }
  return pool;
}

void BufferPool::prefault() {
  uint64_t bytes = capacity();
  for (uint64_t at = 0; at < bytes && !stop_prefault_.load(std::memory_order_relaxed);) {
    uint64_t n = std::min(kPrefaultStep, bytes - at);
    if (::madvise(base_ + at, n, MADV_POPULATE_WRITE) != 0) break;  // unsupported, or no memory
    at += n;
    prefaulted_bytes_.store(at, std::memory_order_relaxed);
  }
  prefault_done_.store(true, std::memory_order_release);
}

BufferPool::BufferPool(char* map, uint64_t map_bytes, char* base, uint32_t pages)
    : map_(map), map_bytes_(map_bytes), base_(base), pages_(pages) {}

// Every buffer holds the pool, so none is left when this runs.
BufferPool::~BufferPool() {
  if (prefaulter_.joinable()) {
    stop_prefault_ = true;
    prefaulter_.join();
  }
  ::munmap(map_, map_bytes_);
}

Result<PoolBuffer> BufferPool::allocate(uint64_t bytes) {
  uint64_t want = footprint(bytes) / kPageSize;
  PoolBuffer out;
  {
    std::lock_guard lock(mutex_);
    uint64_t available = free_.size() + (pages_ - next_fresh_);
    if (want > available) {
      ++refused_;
      return Error(ErrorKind::kNoSpace,
                   "buffer pool has " + std::to_string(available * kPageSize) + " of " +
                       std::to_string(capacity()) + " bytes free, " +
                       std::to_string(want * kPageSize) + " asked for");
    }
    auto add = [&](uint32_t page) {
      if (!out.runs_.empty() && out.runs_.back().first + out.runs_.back().count == page) {
        ++out.runs_.back().count;
      } else {
        out.runs_.push_back(PoolBuffer::Run{page, 1});
      }
    };
    uint64_t n = 0;
    // Recycled pages first: touching a fresh one costs a fault and the kernel's zeroing.
    for (; n < want && !free_.empty(); ++n) {
      add(free_.back());
      free_.pop_back();
    }
    if (n < want) {
      uint32_t fresh = static_cast<uint32_t>(want - n);
      if (!out.runs_.empty() && out.runs_.back().first + out.runs_.back().count == next_fresh_) {
        out.runs_.back().count += fresh;
      } else {
        out.runs_.push_back(PoolBuffer::Run{next_fresh_, fresh});
      }
      next_fresh_ += fresh;
    }
    held_pages_ += want;
    ++allocations_;
  }
  out.pool_ = shared_from_this();
  out.size_ = bytes;
  return out;
}

void BufferPool::give_back(const std::vector<PoolBuffer::Run>& runs, size_t from) {
  std::lock_guard lock(mutex_);
  for (size_t i = runs.size(); i-- > from;) {
    const PoolBuffer::Run& r = runs[i];
    for (uint32_t p = r.count; p-- > 0;) free_.push_back(r.first + p);
    held_pages_ -= r.count;
  }
}

BufferPoolStats BufferPool::stats() const {
  std::lock_guard lock(mutex_);
  BufferPoolStats s;
  s.capacity_bytes = capacity();
  s.touched_bytes = uint64_t{next_fresh_} * kPageSize;
  s.held_bytes = held_pages_ * kPageSize;
  s.allocations = allocations_;
  s.fresh_pages = next_fresh_;
  s.refused = refused_;
  s.prefaulted_bytes = prefaulted_bytes_.load(std::memory_order_relaxed);
  s.prefault_done = prefault_done_.load(std::memory_order_acquire);
  return s;
}

}  // namespace shoal
