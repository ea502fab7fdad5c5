#include "store/sign/canonical.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <unordered_map>

#include "store/hash.h"
#include "store/sign/signing_detail.h"

namespace shoal::signing {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

struct Civil {
  int year;
  unsigned month, day, weekday;
  long hours, minutes, seconds;
};

Civil civil(TimePoint t) {
  using namespace std::chrono;
  auto secs = floor<seconds>(t);
  auto day = floor<days>(secs);
  year_month_day ymd{day};
  hh_mm_ss hms{secs - day};
  return {static_cast<int>(ymd.year()),
          static_cast<unsigned>(ymd.month()),
          static_cast<unsigned>(ymd.day()),
          weekday{day}.c_encoding(),
          static_cast<long>(hms.hours().count()),
          static_cast<long>(hms.minutes().count()),
          static_cast<long>(hms.seconds().count())};
}

}  // namespace

std::string iso8601_basic(TimePoint t) {
  Civil c = civil(t);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02ld%02ld%02ldZ", c.year, c.month, c.day, c.hours,
                c.minutes, c.seconds);
  return buf;
}

std::string http_date(TimePoint t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  Civil c = civil(t);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04d %02ld:%02ld:%02ld GMT", kDays[c.weekday], c.day,
                kMonths[c.month - 1], c.year, c.hours, c.minutes, c.seconds);
  return buf;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

std::string trim_and_collapse(std::string_view s) {
  std::string out;
  for (char c : trim(s)) {
    if (!is_blank(c)) {
      out.push_back(c);
    } else if (out.back() != ' ') {  // trimmed, so a blank never comes first
      out.push_back(' ');
    }
  }
  return out;
}

CanonicalHeaderList merge_sorted(CanonicalHeaderList headers) {
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  CanonicalHeaderList merged;
  for (auto& [name, value] : headers) {
    if (!merged.empty() && merged.back().first == name) {
      merged.back().second += ',' + value;
    } else {
      merged.emplace_back(std::move(name), std::move(value));
    }
  }
  return merged;
}

std::string derive_key(std::string seed, const std::vector<std::string_view>& parts) {
  // The key changes once a day per region and service, and deriving it is four HMACs: most of
  // what signing a GET costs. Keep the few in use (the cache is process-wide, since signers
  // are per store and stores per worker; the secret it holds is in the signers' memory anyway).
  static std::mutex mutex;
  static std::unordered_map<std::string, std::string> known;
  constexpr size_t kMaxKnown = 64;
  std::string id = std::to_string(seed.size()) + ':' + seed;
  for (std::string_view part : parts) id += std::to_string(part.size()) + ':' + std::string(part);
  {
    std::lock_guard lock(mutex);
    if (auto it = known.find(id); it != known.end()) return it->second;
  }
  std::string key = std::move(seed);
  for (std::string_view part : parts) key = hmac_sha256(key, part);
  std::lock_guard lock(mutex);
  if (known.size() >= kMaxKnown) known.clear();  // old dates and rotated secrets
  known.emplace(std::move(id), key);
  return key;
}

}  // namespace shoal::signing
