#include "daemon/frontends/ublk_request.h"

#include <cerrno>

namespace shoal {

struct UblkRequestHandler::State {
  Commit commit;
  size_t in_flight = 0;
  bool abandoned = false;
};

UblkRequestPlan plan_ublk_request(const ublksrv_io_desc& desc, uint64_t device_bytes,
                                  uint32_t max_io_bytes) {
  UblkRequestPlan plan;
  switch (ublksrv_get_op(&desc)) {
    case UBLK_IO_OP_READ:
      break;
    case UBLK_IO_OP_FLUSH:
      return plan;  // nothing is ever dirty on a read-only device
    case UBLK_IO_OP_WRITE:
    case UBLK_IO_OP_DISCARD:
    case UBLK_IO_OP_WRITE_SAME:
    case UBLK_IO_OP_WRITE_ZEROES:
      plan.result = -EROFS;
      return plan;
    default:
      plan.result = -EIO;
      return plan;
  }
  uint64_t length = uint64_t{desc.nr_sectors} << 9;
  // Shifting a huge start sector would wrap, so compare in sectors first.
  bool past_end = desc.start_sector > (device_bytes >> 9) ||
                  !within_device(device_bytes, desc.start_sector << 9, length);
  if (past_end || length > max_io_bytes) {
    plan.result = -EIO;
    return plan;
  }
  plan.read = true;
  plan.offset = desc.start_sector << 9;
  plan.length = static_cast<uint32_t>(length);
  return plan;
}

UblkRequestHandler::UblkRequestHandler(BlockDevice& device, uint64_t device_bytes,
                                       uint32_t max_io_bytes, Commit commit)
    : device_(device),
      device_bytes_(device_bytes),
      max_io_bytes_(max_io_bytes),
      state_(std::make_shared<State>(State{std::move(commit)})) {}

UblkRequestHandler::~UblkRequestHandler() { abandon(); }

void UblkRequestHandler::handle(uint16_t tag, const ublksrv_io_desc& desc, uint8_t* buffer,
                                std::shared_ptr<void> keep_alive) {
  UblkRequestPlan plan = plan_ublk_request(desc, device_bytes_, max_io_bytes_);
  if (!plan.read || plan.length == 0) {
    state_->commit(tag, plan.result);
    return;
  }
  ++state_->in_flight;
  // The iovec lives in the callback so it outlives the read, as BlockDevice requires.
  auto iov = std::make_shared<iovec>(iovec{buffer, plan.length});
  device_.readv(plan.offset, std::span<const iovec>(iov.get(), 1),
                [state = state_, tag, length = plan.length, iov,
                 keep_alive = std::move(keep_alive)](Status status) {
                  --state->in_flight;
                  if (state->abandoned) return;
                  state->commit(tag, status.ok() ? static_cast<int32_t>(length) : -EIO);
                });
}

void UblkRequestHandler::abandon() { state_->abandoned = true; }

size_t UblkRequestHandler::reads_in_flight() const { return state_->in_flight; }

}  // namespace shoal
