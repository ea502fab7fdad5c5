#include "mount/proc.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace shoal::mount {
namespace {

namespace fs = std::filesystem;

// mountinfo escapes space, tab, newline and backslash as three octal digits.
std::string unescape_octal(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      auto digit = [](char c) { return c >= '0' && c <= '7'; };
      if (digit(field[i + 1]) && digit(field[i + 2]) && digit(field[i + 3])) {
        out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                        (field[i + 3] - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

std::string read_whole(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

// Fields: id parent major:minor root mount-point options [optional…] - fstype source super.
std::vector<MountEntry> parse_mountinfo(std::string_view text) {
  std::vector<MountEntry> mounts;
  std::istringstream lines{std::string(text)};
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string word; fields >> word;) f.push_back(word);
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (f.size() < 5 || dash + 2 >= f.size()) continue;
    mounts.push_back(
        {unescape_octal(f[4]), unescape_octal(f[dash + 1]), unescape_octal(f[dash + 2])});
  }
  return mounts;
}

std::vector<MountEntry> read_mountinfo() {
  return parse_mountinfo(read_whole("/proc/self/mountinfo"));
}

bool is_mount_point(std::string_view path, const std::vector<MountEntry>& mounts) {
  for (const MountEntry& m : mounts)
    if (m.mount_point == path) return true;
  return false;
}

bool is_mount_point(std::string_view path) { return is_mount_point(path, read_mountinfo()); }

std::string canonical_path(const std::string& path) {
  std::error_code ec;
  fs::path resolved = fs::canonical(path, ec);
  if (ec) resolved = fs::absolute(path, ec).lexically_normal();
  std::string out = resolved.string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// "pid (comm) S ppid …": comm may hold spaces and parentheses, so the state is found after
// the last ')'.
bool is_live_shoald_stat(std::string_view line) {
  size_t paren = line.rfind(')');
  if (paren == std::string_view::npos || paren + 2 >= line.size()) return false;
  char state = line[paren + 2];
  if (state == 'Z' || state == 'X' || state == 'x') return false;
  size_t open = line.find('(');
  return open != std::string_view::npos && line.substr(open, paren + 1 - open) == "(shoald)";
}

bool daemon_alive(int64_t pid) {
  if (pid <= 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  return std::getline(stat, line) && is_live_shoald_stat(line);
}

}  // namespace shoal::mount
