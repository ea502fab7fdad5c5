// Loop devices over a transport's image file. Blocking ioctls; callable from any thread
// (LOOP_CTL_GET_FREE races with other attachers, which attach_loop retries).
#pragma once

#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace shoal::mount {

struct LoopDevice {
  std::string path;  // "/dev/loopN"
  UniqueFd fd;       // held until something else (the mount) holds the device
};

// Binds a free loop device to `image`, read-only, with autoclear (the unmount detaches it) and
// direct I/O when the backing file takes it (the page cache then holds the bytes once, in
// EROFS, not again for the image file). Closing the returned fd with nothing mounted on the
// device detaches it.
Result<LoopDevice> attach_loop(const std::string& image);

// Detaches `device` if it still serves `image` (a lazy unmount leaves it until the last user
// goes; clearing it now marks it to go then). Does nothing for anything else.
void detach_loop(const std::string& device, const std::string& image);

}  // namespace shoal::mount
