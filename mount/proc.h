// What the kernel says about mounts and processes, read from /proc: the parsers take the text
// so they can be tested on given input, the readers feed them this process's view. Blocking
// file reads only; callable from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::mount {

struct MountEntry {
  std::string mount_point;  // unescaped ("\040" in the file is a space)
  std::string fs_type;
  std::string source;
};

// The entries of a /proc/<pid>/mountinfo text, in its order (parents before children);
// malformed lines are skipped.
std::vector<MountEntry> parse_mountinfo(std::string_view text);
std::vector<MountEntry> read_mountinfo();  // /proc/self/mountinfo

// Whether something is mounted at exactly `path` (canonical, see canonical_path).
bool is_mount_point(std::string_view path, const std::vector<MountEntry>& mounts);
bool is_mount_point(std::string_view path);

// The path as the kernel names it: symlinks resolved when it exists, else made absolute and
// normalised; no trailing '/'.
std::string canonical_path(const std::string& path);

// Whether a /proc/<pid>/stat line belongs to a live (not zombie) shoald, so a recycled pid
// running something else is never taken for the volume's daemon.
bool is_live_shoald_stat(std::string_view stat_line);
bool daemon_alive(int64_t pid);

}  // namespace shoal::mount
