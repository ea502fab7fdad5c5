// Guest memory as a vhost-user back end sees it: the regions of a SET_MEM_TABLE message, each
// mapped from the file descriptor the front end sent. Every address the guest hands us (ring
// addresses, descriptor buffers) is translated here, and a range that is not wholly inside the
// table is refused: nothing outside the mapped regions is ever touched.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/result.h"

namespace shoal {

// One region as SET_MEM_TABLE describes it (vhost-user.rst, "Memory regions description").
struct VhostMemoryRegion {
  uint64_t guest_phys_addr = 0;
  uint64_t memory_size = 0;
  uint64_t userspace_addr = 0;  // where the front end (QEMU) maps the region
  uint64_t mmap_offset = 0;     // where the region starts in its file descriptor
};

class GuestMemory {
 public:
  struct Region {
    uint64_t guest_phys = 0;
    uint64_t size = 0;
    uint64_t user_addr = 0;
    uint8_t* host = nullptr;  // the region's first byte in this process
  };

  // Validates the table (sizes, overflows, overlaps, the files being large enough) and maps each
  // region shared and writable. Takes no ownership of the fds: the caller closes them.
  static Result<std::shared_ptr<GuestMemory>> map(std::span<const VhostMemoryRegion> regions,
                                                  std::span<const int> fds);
  // Memory already in this process (tests): nothing is unmapped at the end.
  static std::shared_ptr<GuestMemory> borrow(std::vector<Region> regions);

  ~GuestMemory();
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  // The host address of guest-physical [gpa, gpa + length) when it lies in one region.
  uint8_t* guest_range(uint64_t gpa, uint64_t length) const;
  // The same for the front end's own (userspace) addresses, which SET_VRING_ADDR uses.
  uint8_t* user_range(uint64_t address, uint64_t length) const;
  // Appends iovecs covering guest-physical [gpa, gpa + length), split where it crosses from one
  // region to an adjacent one. False (and nothing appended) if any byte is outside the table.
  bool guest_iovecs(uint64_t gpa, uint64_t length, std::vector<iovec>& out) const;

  size_t region_count() const { return regions_.size(); }

 private:
  struct Mapping {
    void* base = nullptr;
    size_t length = 0;
  };
  GuestMemory(std::vector<Region> regions, std::vector<Mapping> mappings)
      : regions_(std::move(regions)), mappings_(std::move(mappings)) {}
  const Region* region_of(uint64_t gpa) const;

  std::vector<Region> regions_;
  std::vector<Mapping> mappings_;
};

}  // namespace shoal
