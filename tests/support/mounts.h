// Kernel mounts and loop devices in tests: what is mounted where, mounting an EROFS image
// through a loop device, and undoing it all — unmount (lazily if busy) and detach the loop
// devices left on the image — even after a failed assertion.
#pragma once

#include <string>
#include <vector>

#include "support/command.h"

namespace shoal::test {

// The file system type of the mount at `path` in this mount namespace (the last one when
// mounts are stacked), or "" if nothing is mounted there.
std::string mounted_type(const std::string& path);
inline bool is_mounted(const std::string& path) { return !mounted_type(path).empty(); }

// Whether the mount at `path` (the last one when stacked) is read-only, by its own flags or by
// its file system's, as /proc/mounts shows "ro"; false if nothing is mounted there.
bool is_read_only_mount(const std::string& path);

// Mount points at or below `dir`, in /proc/self/mountinfo order (parents before children).
std::vector<std::string> mount_points_under(const std::string& dir);

// Unmounts everything at or below `dir`, children first, lazily so a busy mount cannot stop it.
void unmount_all_under(const std::string& dir);

struct LoopDevice {
  std::string device;        // "/dev/loopN"
  std::string backing_file;  // as the kernel reports it (" (deleted)" appended if unlinked)
};

// Loop devices whose backing file is `path` or lies below it.
std::vector<LoopDevice> loop_devices_under(const std::string& path);

// Detaches every loop device loop_devices_under(path) names.
void detach_loop_devices_under(const std::string& path);

// Unmounts `target` (lazily if a plain unmount fails) and detaches any loop device still on
// `backing_file` (none when it is empty).
void unmount_and_detach(const std::string& target, const std::string& backing_file);

// A mount that is undone when the guard goes: see unmount_and_detach. Mount with a method,
// or record a mount made elsewhere with adopt().
class MountGuard {
 public:
  MountGuard() = default;
  ~MountGuard() { release(); }
  MountGuard(const MountGuard&) = delete;
  MountGuard& operator=(const MountGuard&) = delete;

  // `mount -t erofs -o ro,loop <image> <target>`; remembered when it succeeds.
  CommandResult mount_erofs(const std::string& image, const std::string& target);
  // Takes charge of a mount at `target` made another way (backing_file may be empty).
  void adopt(const std::string& target, const std::string& backing_file);
  // Undoes the mount now (nothing if there is none).
  void release();

 private:
  std::string target_;
  std::string backing_file_;
};

}  // namespace shoal::test
