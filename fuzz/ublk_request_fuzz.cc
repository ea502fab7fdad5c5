// ublk request planning (daemon/frontends/ublk_request.h): a ublksrv_io_desc as the kernel
// hands it over, against a device size and buffer size taken from the input too. A planned
// read must lie inside the device and fit the tag's buffer; anything else is answered with a
// negative errno.
#include <linux/ublk_cmd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "daemon/block_device.h"
#include "daemon/frontends/ublk_request.h"
#include "fuzz/fuzz_check.h"

using namespace shoal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ublksrv_io_desc desc{};
  uint64_t device_bytes = 0;
  uint32_t max_io_bytes = 0;
  if (size < sizeof desc + sizeof device_bytes + sizeof max_io_bytes) return 0;
  std::memcpy(&desc, data, sizeof desc);
  std::memcpy(&device_bytes, data + sizeof desc, sizeof device_bytes);
  std::memcpy(&max_io_bytes, data + sizeof desc + sizeof device_bytes, sizeof max_io_bytes);
  // The kernel is told whole 512-byte sectors.
  device_bytes &= ~uint64_t{511};

  UblkRequestPlan plan = plan_ublk_request(desc, device_bytes, max_io_bytes);
  if (plan.read) {
    FUZZ_CHECK(ublksrv_get_op(&desc) == UBLK_IO_OP_READ);
    FUZZ_CHECK(within_device(device_bytes, plan.offset, plan.length));
    FUZZ_CHECK(plan.length <= max_io_bytes);
    FUZZ_CHECK(plan.offset == desc.start_sector * 512);
    FUZZ_CHECK(plan.length == uint64_t{desc.nr_sectors} * 512);
  } else {
    FUZZ_CHECK(plan.result <= 0);
    if (ublksrv_get_op(&desc) != UBLK_IO_OP_FLUSH) FUZZ_CHECK(plan.result < 0);
  }
  return 0;
}
