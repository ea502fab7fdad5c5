#include "support/mounts.h"

#include <sys/mount.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

namespace shoal::test {
namespace {

// /proc/self/mountinfo writes space, tab, newline and backslash in paths as \ooo.
std::string unescape_mountinfo(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      out.push_back(static_cast<char>(std::stoi(field.substr(i + 1, 3), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

struct MountEntry {
  std::string mount_point;
  std::string type;
  bool read_only = false;  // the mount's flags or its file system's (the super block's) say ro
};

// Whether the comma-separated `options` hold exactly `option`.
bool lists_option(const std::string& options, const std::string& option) {
  return ("," + options + ",").find("," + option + ",") != std::string::npos;
}

std::vector<MountEntry> mount_table() {
  std::vector<MountEntry> entries;
  std::ifstream mountinfo("/proc/self/mountinfo");
  for (std::string line; std::getline(mountinfo, line);) {
    std::istringstream fields(line);
    std::string id, parent, devices, root, mount_point, mount_options, field, type, source,
        super_options;
    fields >> id >> parent >> devices >> root >> mount_point >> mount_options;
    while (fields >> field && field != "-") {
    }
    fields >> type >> source >> super_options;
    bool read_only = lists_option(mount_options, "ro") || lists_option(super_options, "ro");
    entries.push_back({unescape_mountinfo(mount_point), type, read_only});
  }
  return entries;
}

bool at_or_below(const std::string& path, const std::string& dir) {
  return path == dir || (path.starts_with(dir) && path[dir.size()] == '/');
}

// The mount at `path`, the last one when mounts are stacked there.
std::optional<MountEntry> mount_at(const std::string& path) {
  std::optional<MountEntry> found;
  for (MountEntry& entry : mount_table())
    if (entry.mount_point == path) found = std::move(entry);
  return found;
}

}  // namespace

std::string mounted_type(const std::string& path) {
  std::optional<MountEntry> mount = mount_at(path);
  return mount ? mount->type : "";
}

bool is_read_only_mount(const std::string& path) {
  std::optional<MountEntry> mount = mount_at(path);
  return mount && mount->read_only;
}

std::vector<std::string> mount_points_under(const std::string& dir) {
  std::vector<std::string> found;
  for (const MountEntry& entry : mount_table())
    if (at_or_below(entry.mount_point, dir)) found.push_back(entry.mount_point);
  return found;
}

void unmount_all_under(const std::string& dir) {
  // A lazy unmount of a parent can hide mounts below it; a few rounds catch those.
  for (int round = 0; round < 3; ++round) {
    std::vector<std::string> targets = mount_points_under(dir);
    if (targets.empty()) return;
    for (auto it = targets.rbegin(); it != targets.rend(); ++it)
      ::umount2(it->c_str(), MNT_DETACH);
  }
}

std::vector<LoopDevice> loop_devices_under(const std::string& path) {
  std::vector<LoopDevice> found;
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/block", ignored)) {
    std::ifstream backing(entry.path() / "loop" / "backing_file");
    std::string file;
    if (std::getline(backing, file) && at_or_below(file.substr(0, file.find(" (deleted)")), path))
      found.push_back({"/dev/" + entry.path().filename().string(), file});
  }
  return found;
}

void detach_loop_devices_under(const std::string& path) {
  for (const LoopDevice& loop : loop_devices_under(path)) run_command("losetup -d " + loop.device);
}

void unmount_and_detach(const std::string& target, const std::string& backing_file) {
  if (::umount2(target.c_str(), 0) != 0) ::umount2(target.c_str(), MNT_DETACH);
  if (!backing_file.empty()) detach_loop_devices_under(backing_file);
}

CommandResult MountGuard::mount_erofs(const std::string& image, const std::string& target) {
  CommandResult mounted = run_command("mount -t erofs -o ro,loop " + image + " " + target);
  if (mounted.exit_code == 0) adopt(target, image);
  return mounted;
}

void MountGuard::adopt(const std::string& target, const std::string& backing_file) {
  release();
  target_ = target;
  backing_file_ = backing_file;
}

void MountGuard::release() {
  if (target_.empty()) return;
  unmount_and_detach(target_, backing_file_);
  target_.clear();
  backing_file_.clear();
}

}  // namespace shoal::test
