// What shoald tells whoever attaches its volume (the `volume` command on the control socket,
// common/control.h): the transport, how the host attaches to it and where, as reply fields,
// so callers read typed fields instead of a frontend's human-readable describe() text.
//
//   frontend fuse                      frontend ublk
//   attach image-file                  attach block-device
//   image /run/shoal/<id>/fuse/image   device /dev/ublkb0
//   device_bytes 1073741824            device_bytes 1073741824
//   pid 4242                           pid 4242
//
// Unknown fields are skipped when parsing, so the daemon may add some without breaking older
// readers. Pure functions, callable from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/control.h"
#include "common/result.h"
#include "daemon/frontends/frontend.h"

namespace shoal {

struct VolumeReport {
  std::string frontend;  // a name from frontend_types()
  Attachment attachment = Attachment::kClient;
  std::string path;  // image file or device node; empty for client transports
  uint64_t device_bytes = 0;
  int64_t pid = 0;
};

ControlReply format_volume_report(const VolumeReport& report);
// Fails when `frontend` or `attach` is missing or malformed, or an attachable transport names
// no path.
Result<VolumeReport> parse_volume_report(const ControlReply& reply);

}  // namespace shoal
