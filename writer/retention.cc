#include "writer/retention.h"

#include <algorithm>
#include <map>

#include "common/log.h"

namespace shoal {
namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string strip_zeros(const std::string& s) {
  size_t first = s.find_first_not_of('0');
  return first == std::string::npos ? "0" : s.substr(first);
}

}  // namespace

std::string generation_of(const std::regex& pattern, const std::string& relative_key) {
  std::smatch m;
  if (!std::regex_search(relative_key, m, pattern) || m.size() < 2 || !m[1].matched) return "";
  return m[1].str();
}

bool generation_older(const std::string& a, const std::string& b) {
  if (all_digits(a) && all_digits(b)) {
    std::string x = strip_zeros(a), y = strip_zeros(b);
    return x.size() != y.size() ? x.size() < y.size() : x < y;
  }
  return a < b;
}

std::vector<std::string> plan_retention(const std::vector<std::string>& relative_keys,
                                        const std::regex& pattern, int keep,
                                        const std::set<std::string>& incomplete) {
  std::map<std::string, std::vector<std::string>, decltype(&generation_older)> generations(
      &generation_older);
  for (const auto& key : relative_keys) {
    std::string g = generation_of(pattern, key);
    if (!g.empty()) generations[g].push_back(key);
  }
  // Walk from the newest: the keep-th complete generation is the oldest one kept.
  int complete_seen = 0;
  auto oldest_kept = generations.rend();
  for (auto it = generations.rbegin(); it != generations.rend(); ++it) {
    if (incomplete.count(it->first)) continue;
    if (++complete_seen == keep) {
      oldest_kept = it;
      break;
    }
  }
  std::vector<std::string> doomed;
  if (oldest_kept == generations.rend()) return doomed;
  for (auto it = generations.begin(); it->first != oldest_kept->first; ++it)
    doomed.insert(doomed.end(), it->second.begin(), it->second.end());
  return doomed;
}

Retention::Retention(ObjectStore& store, std::string prefix, RetentionConfig config,
                     std::function<std::set<std::string>()> incomplete)
    : store_(store), prefix_(std::move(prefix)), config_(std::move(config)),
      pattern_(config_.pattern), incomplete_(std::move(incomplete)) {}

Retention::~Retention() = default;

void Retention::request() {
  if (running_) {
    again_ = true;
    return;
  }
  run();
}

void Retention::run() {
  running_ = true;
  again_ = false;
  incomplete_now_ = incomplete_();
  listed_.clear();
  list_page("");
}

void Retention::list_page(std::string token) {
  ListQuery q;
  q.prefix = prefix_;
  q.continuation_token = std::move(token);
  store_.list(q, [this, alive = std::weak_ptr<bool>(alive_)](Result<ListPage> page) {
    if (!alive.lock()) return;
    if (!page.ok()) {
      write_log(LogLevel::kWarning, "retention: listing " + prefix_ + " failed: " +
                                         page.error().describe() + " (will retry on the next upload)");
      return finish();
    }
    for (const auto& o : page->objects) listed_.push_back(o.key.substr(prefix_.size()));
    if (!page->next_token.empty()) return list_page(page->next_token);
    doomed_ = plan_retention(listed_, pattern_, config_.keep, incomplete_now_);
    remove_next();
  });
}

void Retention::remove_next() {
  if (doomed_.empty()) return finish();
  std::string key = prefix_ + doomed_.back();
  doomed_.pop_back();
  store_.remove(key, [this, key, alive = std::weak_ptr<bool>(alive_)](Result<void> r) {
    if (!alive.lock()) return;
    if (r.ok()) {
      ++removed_;
      write_log(LogLevel::kInfo, "retention: removed " + key);
    } else {
      write_log(LogLevel::kWarning, "retention: removing " + key + " failed: " + r.error().describe());
    }
    remove_next();
  });
}

void Retention::finish() {
  running_ = false;
  if (again_) run();
}

}  // namespace shoal
