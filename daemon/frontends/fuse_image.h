// The FUSE-image frontend: mounts a read-only directory holding one file (default "image")
// whose bytes are the device; the kernel then mounts EROFS on that file through a loop device.
// It needs nothing beyond FUSE, so it works wherever ublk does not.
//
// libfuse3's low-level API, driven by the Reactor: the session's /dev/fuse descriptor is
// watched for readability and each request is received and dispatched with
// fuse_session_receive_buf / fuse_session_process_buf, never fuse_session_loop, so no thread is
// created. Reads go to BlockDevice::readv and are answered when it completes, many at a time
// (the kernel sends reads asynchronously).
//
// Page cache: the image file is opened with direct_io off and keep_cache on. The device is
// immutable, so cached pages never go stale, and kernel readahead on the file is what turns a
// directory walk over the layout-ordered device into cross-file prefetch. A loop device set up
// with --direct-io=on avoids caching the same bytes twice.
//
// Unmounting: stop() unmounts (libfuse does a lazy unmount as root). If the process dies
// without stop(), the kernel aborts the connection but the mount stays, failing with ENOTCONN
// until someone runs `umount -l` on it; `shoal umount` does that.
#pragma once

#include <memory>
#include <string>

#include "daemon/frontends/frontend.h"

namespace shoal {

class FuseImage final : public Frontend {
 public:
  FuseImage(const FrontendOptions& options, Reactor& reactor, BlockDevice& device);
  ~FuseImage() override;
  FuseImage(const FuseImage&) = delete;
  FuseImage& operator=(const FuseImage&) = delete;

  // Mounts at options.mount_point (an existing directory). Fails with a clear message when
  // /dev/fuse is missing or the mount is refused.
  Status start() override;
  void stop() override;
  std::string describe() const override;
  std::string attach_path() const override { return serving() ? image_path() : std::string(); }

  // The path of the image file inside the mount.
  std::string image_path() const;
  // False before start(), after stop(), and once the file system was unmounted from outside.
  bool serving() const;

 private:
  struct Session;

  FuseImageOptions options_;
  Reactor& reactor_;
  BlockDevice& device_;
  // Shared with reads in flight, so their replies stay valid after stop(); the libfuse session
  // is destroyed when the last of them completes.
  std::shared_ptr<Session> session_;
};

}  // namespace shoal
