#include "daemon/frontends/frontend.h"

#include "daemon/frontends/fuse_image.h"
#include "daemon/frontends/nbd_server.h"

namespace shoal {

std::vector<std::string_view> frontend_names() { return {"fuse", "nbd"}; }

Result<std::unique_ptr<Frontend>> make_frontend(std::string_view name,
                                                const FrontendOptions& options, Reactor& reactor,
                                                BlockDevice& device) {
  if (name == "fuse") return std::unique_ptr<Frontend>(new FuseImage(options, reactor, device));
  if (name == "nbd") return std::unique_ptr<Frontend>(new NbdServer(options, reactor, device));
  std::string known;
  for (std::string_view n : frontend_names()) known += (known.empty() ? "" : ", ") + std::string(n);
  return Error(ErrorKind::kInvalidArgument,
               "unknown frontend '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace shoal
