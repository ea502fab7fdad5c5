// A volume's record: what teardown, stats and listing need to find its pieces again (the
// daemon's pid, control socket and log, the image and device, the mount point), kept as a
// TOML file in the volume's state directory, $SHOAL_RUN_DIR (default /run/shoal)/<hash of the
// mount point>/state.toml. Written whole to a temporary file and renamed, so a reader sees the
// old record or the new one, never half of one.
//
// The state directory (mode 0700) also holds what the daemon creates for the volume: its
// control socket, pid file, log, and the private directory an image-file transport mounts.
//
// Pure formatting and parsing plus blocking file operations; callable from any thread, but two
// callers must not write the same volume's state at once (the CLI and the CSI plugin each
// serialise work per mount point).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "daemon/frontends/frontend.h"

namespace shoal::mount {

struct VolumeState {
  std::string mountpoint;  // canonical
  int64_t pid = 0;         // shoald's
  std::string frontend;    // the transport's name in the frontend table
  Attachment attachment = Attachment::kImageFile;
  std::string image_dir;     // image-file transports: the directory the daemon mounts
  std::string image;         // image-file transports: the file the loop device goes over
  std::string block_device;  // the loop device, or the transport's own block device
  std::string control_socket;
  std::string log;
  std::string index;   // the index file served
  std::string source;  // what the volume was started from (index file or URI)
};

// $SHOAL_RUN_DIR, else /run/shoal.
std::string run_dir();
// The state directory of the volume mounted at `mountpoint` (canonical).
std::string state_dir_of(const std::string& mountpoint);
inline std::string state_file_in(const std::string& dir) { return dir + "/state.toml"; }

std::string format_state(const VolumeState& state);
// `origin` names the text in messages. Records written before the attachment was recorded
// get it from the frontend table.
Result<VolumeState> parse_state(std::string_view text, std::string_view origin);

Status save_state(const std::string& path, const VolumeState& state);
Result<VolumeState> load_state(const std::string& path);

// The 16 hex digits of the xxh3 of `text`: state directory and index file names.
std::string hex_hash(std::string_view text);

}  // namespace shoal::mount
