// Retention: keep only the newest N checkpoint generations remotely. A generation is the text
// the pattern's capture group matches in a key (relative to the destination), compared as a
// number when it is all digits. A generation counts as complete when none of the files the
// writer has taken for it is still owed to the store; only complete generations are kept
// and counted, so an older generation is never deleted before N newer ones are complete.
// Keys the pattern does not match are never touched.
#pragma once

#include <functional>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "store/object_store.h"
#include "writer/config.h"

namespace shoal {

// The generation `relative_key` belongs to, or "" when the pattern does not match.
std::string generation_of(const std::regex& pattern, const std::string& relative_key);
// Orders generations: numerically when both are digits, else byte-wise.
bool generation_older(const std::string& a, const std::string& b);

// The relative keys to delete, given every relative key under the destination and the
// generations still incomplete.
std::vector<std::string> plan_retention(const std::vector<std::string>& relative_keys,
                                        const std::regex& pattern, int keep,
                                        const std::set<std::string>& incomplete);

// Lists the destination, plans and deletes, one pass at a time; a pass asked for while one
// runs is run after it.
class Retention {
 public:
  // incomplete(): the generations of uploads not yet complete, asked at the start of a pass.
  Retention(ObjectStore& store, std::string prefix, RetentionConfig config,
            std::function<std::set<std::string>()> incomplete);
  ~Retention();

  void request();
  const std::regex& pattern() const { return pattern_; }
  uint64_t removed() const { return removed_; }

 private:
  void run();
  void list_page(std::string token);
  void remove_next();
  void finish();

  ObjectStore& store_;
  std::string prefix_;
  RetentionConfig config_;
  std::regex pattern_;
  std::function<std::set<std::string>()> incomplete_;
  bool running_ = false;
  bool again_ = false;
  std::set<std::string> incomplete_now_;
  std::vector<std::string> listed_;
  std::vector<std::string> doomed_;
  uint64_t removed_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shoal
