#include "daemon/frontends/virtio_memory.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace shoal {
namespace {

constexpr size_t kMaxRegions = 8;  // VHOST_MEMORY_BASELINE_NREGIONS

bool add_overflows(uint64_t a, uint64_t b) { return a + b < a; }

Status check_region(const VhostMemoryRegion& r, size_t index) {
  std::string which = "memory region " + std::to_string(index);
  if (r.memory_size == 0) return Error(ErrorKind::kInvalidArgument, which + " is empty");
  if (add_overflows(r.guest_phys_addr, r.memory_size) ||
      add_overflows(r.userspace_addr, r.memory_size) ||
      add_overflows(r.mmap_offset, r.memory_size)) {
    return Error(ErrorKind::kInvalidArgument, which + " wraps around the address space");
  }
  return {};
}

Status check_overlaps(std::span<const VhostMemoryRegion> regions) {
  for (size_t i = 0; i < regions.size(); ++i) {
    for (size_t j = i + 1; j < regions.size(); ++j) {
      const auto& a = regions[i];
      const auto& b = regions[j];
      if (a.guest_phys_addr < b.guest_phys_addr + b.memory_size &&
          b.guest_phys_addr < a.guest_phys_addr + a.memory_size) {
        return Error(ErrorKind::kInvalidArgument, "memory regions " + std::to_string(i) + " and " +
                                                      std::to_string(j) + " overlap");
      }
    }
  }
  return {};
}

// A mapping past the end of a file faults on access (SIGBUS), so the file must cover the region.
Status check_file(int fd, const VhostMemoryRegion& r, size_t index) {
  struct stat st {};
  if (fstat(fd, &st) != 0)
    return errno_error("memory region " + std::to_string(index) + " file descriptor", errno);
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) < r.mmap_offset + r.memory_size) {
    return Error(ErrorKind::kInvalidArgument,
                 "memory region " + std::to_string(index) + " reaches past the end of its file");
  }
  return {};
}

}  // namespace

Result<std::shared_ptr<GuestMemory>> GuestMemory::map(std::span<const VhostMemoryRegion> regions,
                                                      std::span<const int> fds) {
  if (regions.empty() || regions.size() > kMaxRegions) {
    return Error(ErrorKind::kInvalidArgument,
                 "memory table with " + std::to_string(regions.size()) + " regions (1 to " +
                     std::to_string(kMaxRegions) + " allowed)");
  }
  if (fds.size() != regions.size()) {
    return Error(ErrorKind::kInvalidArgument,
                 "memory table with " + std::to_string(regions.size()) + " regions came with " +
                     std::to_string(fds.size()) + " file descriptors");
  }
  for (size_t i = 0; i < regions.size(); ++i) {
    SHOAL_TRY(check_region(regions[i], i));
    SHOAL_TRY(check_file(fds[i], regions[i], i));
  }
  SHOAL_TRY(check_overlaps(regions));
  auto memory = std::shared_ptr<GuestMemory>(new GuestMemory({}, {}));
  for (size_t i = 0; i < regions.size(); ++i) {
    const VhostMemoryRegion& r = regions[i];
    size_t length = r.mmap_offset + r.memory_size;
    void* base =
        mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fds[i], 0);
    if (base == MAP_FAILED) return errno_error("mapping memory region " + std::to_string(i), errno);
    memory->mappings_.push_back({base, length});
    memory->regions_.push_back({r.guest_phys_addr, r.memory_size, r.userspace_addr,
                                static_cast<uint8_t*>(base) + r.mmap_offset});
  }
  return memory;
}

std::shared_ptr<GuestMemory> GuestMemory::borrow(std::vector<Region> regions) {
  return std::shared_ptr<GuestMemory>(new GuestMemory(std::move(regions), {}));
}

GuestMemory::~GuestMemory() {
  for (const Mapping& m : mappings_) munmap(m.base, m.length);
}

const GuestMemory::Region* GuestMemory::region_of(uint64_t gpa) const {
  for (const Region& r : regions_)
    if (gpa >= r.guest_phys && gpa - r.guest_phys < r.size) return &r;
  return nullptr;
}

uint8_t* GuestMemory::guest_range(uint64_t gpa, uint64_t length) const {
  const Region* r = region_of(gpa);
  if (r == nullptr || length > r->size - (gpa - r->guest_phys)) return nullptr;
  return r->host + (gpa - r->guest_phys);
}

uint8_t* GuestMemory::user_range(uint64_t address, uint64_t length) const {
  for (const Region& r : regions_) {
    if (address >= r.user_addr && address - r.user_addr < r.size &&
        length <= r.size - (address - r.user_addr)) {
      return r.host + (address - r.user_addr);
    }
  }
  return nullptr;
}

bool GuestMemory::guest_iovecs(uint64_t gpa, uint64_t length, std::vector<iovec>& out) const {
  if (add_overflows(gpa, length)) return false;
  size_t first = out.size();
  while (length > 0) {
    const Region* r = region_of(gpa);
    if (r == nullptr) {
      out.resize(first);
      return false;
    }
    uint64_t step = std::min(length, r->size - (gpa - r->guest_phys));
    out.push_back({r->host + (gpa - r->guest_phys), step});
    gpa += step;
    length -= step;
  }
  return true;
}

}  // namespace shoal
