#include "daemon/frontends/frontend.h"

#include "daemon/frontends/fuse_image.h"
#include "daemon/frontends/nbd_server.h"
#include "daemon/frontends/ublk_frontend.h"
#include "daemon/frontends/vhost_user_blk.h"

namespace shoal {

// ublk first: where the kernel has it, it is the native block device with the shortest path.
std::vector<std::string_view> frontend_names() { return {"ublk", "fuse", "nbd", "vhost-user-blk"}; }

Result<std::unique_ptr<Frontend>> make_frontend(std::string_view name,
                                                const FrontendOptions& options, Reactor& reactor,
                                                BlockDevice& device) {
  if (name == "fuse") return std::unique_ptr<Frontend>(new FuseImage(options, reactor, device));
  if (name == "nbd") return std::unique_ptr<Frontend>(new NbdServer(options, reactor, device));
  if (name == "ublk") return std::unique_ptr<Frontend>(new UblkFrontend(options, reactor, device));
  if (name == "vhost-user-blk")
    return std::unique_ptr<Frontend>(new VhostUserBlk(options, reactor, device));
  std::string known;
  for (std::string_view n : frontend_names()) known += (known.empty() ? "" : ", ") + std::string(n);
  return Error(ErrorKind::kInvalidArgument,
               "unknown frontend '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace shoal
