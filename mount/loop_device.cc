#include "mount/loop_device.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace shoal::mount {

Result<LoopDevice> attach_loop(const std::string& image) {
  UniqueFd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (!control.valid()) return errno_error("/dev/loop-control (modprobe loop)", errno);
  UniqueFd backing(::open(image.c_str(), O_RDONLY | O_CLOEXEC));
  if (!backing.valid()) return errno_error("opening the image " + image, errno);
  for (int attempt = 0; attempt < 16; ++attempt) {
    int number = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (number < 0) return errno_error("finding a free loop device", errno);
    std::string device = "/dev/loop" + std::to_string(number);
    UniqueFd fd(::open(device.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return errno_error("opening " + device, errno);
    loop_config config{};
    config.fd = static_cast<uint32_t>(backing.get());
    config.block_size = 4096;
    config.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
    std::strncpy(reinterpret_cast<char*>(config.info.lo_file_name), image.c_str(),
                 LO_NAME_SIZE - 1);
    int rc = ::ioctl(fd.get(), LOOP_CONFIGURE, &config);
    if (rc != 0 && errno == EINVAL) {
      config.info.lo_flags &= ~LO_FLAGS_DIRECT_IO;
      rc = ::ioctl(fd.get(), LOOP_CONFIGURE, &config);
    }
    if (rc == 0) return LoopDevice{device, std::move(fd)};
    if (errno != EBUSY) return errno_error("binding " + device + " to " + image, errno);
  }
  return Error(ErrorKind::kIo, "no free loop device stayed free long enough: retry");
}

void detach_loop(const std::string& device, const std::string& image) {
  if (!device.starts_with("/dev/loop") || image.empty()) return;
  std::ifstream backing("/sys/block/" + device.substr(5) + "/loop/backing_file");
  std::string file;
  if (!std::getline(backing, file) || file != image) return;
  UniqueFd fd(::open(device.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.valid()) ::ioctl(fd.get(), LOOP_CLR_FD, 0);
}

}  // namespace shoal::mount
