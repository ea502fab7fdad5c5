// RFC 4180 records, split without copying: the CSV reader of manifests and inventory reports.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shoal {

// Splits RFC 4180 records. Fields are views into the text, except those with "" escapes,
// which are unescaped into a scratch buffer reused for every record.
class CsvReader {
 public:
  enum class Outcome { kRecord, kBlank, kEnd, kMalformed };

  explicit CsvReader(std::string_view text) : text_(text) {}

  // On kMalformed, `problem` says why and the reader has moved to the next line.
  Outcome next(std::vector<std::string_view>& fields, std::string& problem) {
    fields.clear();
    refs_.clear();
    scratch_.clear();
    record_line_ = line_;
    if (pos_ >= text_.size()) return Outcome::kEnd;
    if (end_of_line()) return Outcome::kBlank;
    for (;;) {
      bool ok = at('"') ? quoted_field(problem) : plain_field(problem);
      if (!ok) {
        skip_rest_of_line();
        return Outcome::kMalformed;
      }
      if (at(',')) {
        ++pos_;
        continue;
      }
      if (pos_ >= text_.size() || end_of_line()) break;
      problem = "unexpected text after a closing quote";
      skip_rest_of_line();
      return Outcome::kMalformed;
    }
    for (const auto& r : refs_) {
      fields.push_back(r.in_scratch ? std::string_view(scratch_).substr(r.offset, r.length)
                                    : text_.substr(r.offset, r.length));
    }
    return Outcome::kRecord;
  }

  uint64_t record_line() const { return record_line_; }

 private:
  struct FieldRef {
    bool in_scratch;
    size_t offset;
    size_t length;
  };

  bool at(char c) const { return pos_ < text_.size() && text_[pos_] == c; }

  // Consumes an LF or CRLF at the cursor.
  bool end_of_line() {
    bool crlf = at('\r') && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n';
    size_t n = at('\n') ? 1 : crlf ? 2 : 0;
    if (n == 0) return false;
    pos_ += n;
    ++line_;
    return true;
  }

  void skip_rest_of_line() {
    size_t nl = text_.find('\n', pos_);
    pos_ = nl == std::string_view::npos ? text_.size() : nl;
    end_of_line();
  }

  // Bytes that end or break an unquoted field; everything else is scanned past in one test.
  static constexpr std::array<bool, 256> kSpecial = [] {
    std::array<bool, 256> t{};
    for (unsigned char c : {',', '\n', '\r', '"'}) t[c] = true;
    return t;
  }();

  bool plain_field(std::string& problem) {
    size_t start = pos_;
    for (; pos_ < text_.size(); ++pos_) {
      char c = text_[pos_];
      if (!kSpecial[static_cast<unsigned char>(c)]) continue;
      if (c == ',' || c == '\n') break;
      if (c == '\r') {
        if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') break;
        problem = "a carriage return outside quotes not followed by a line feed";
        return false;
      }
      if (c == '"') {
        problem = "a quote inside an unquoted field (quote the whole field and double the quote)";
        return false;
      }
    }
    refs_.push_back({false, start, pos_ - start});
    return true;
  }

  bool quoted_field(std::string& problem) {
    ++pos_;  // the opening quote
    size_t segment = pos_;
    size_t scratch_start = scratch_.size();
    bool escaped = false;
    for (;;) {
      size_t quote = text_.find('"', pos_);
      if (quote == std::string_view::npos) {
        problem = "a quoted field is never closed";
        pos_ = text_.size();
        return false;
      }
      std::string_view inside = text_.substr(pos_, quote - pos_);
      line_ += static_cast<uint64_t>(std::count(inside.begin(), inside.end(), '\n'));
      pos_ = quote + 1;
      if (!at('"')) break;
      scratch_.append(text_.substr(segment, pos_ - segment));  // keeps one of the two quotes
      escaped = true;
      segment = ++pos_;
    }
    size_t end = pos_ - 1;  // the closing quote
    if (!escaped) {
      refs_.push_back({false, segment, end - segment});
      return true;
    }
    scratch_.append(text_.substr(segment, end - segment));
    refs_.push_back({true, scratch_start, scratch_.size() - scratch_start});
    return true;
  }

  std::string_view text_;
  size_t pos_ = 0;
  uint64_t line_ = 1;
  uint64_t record_line_ = 1;
  std::vector<FieldRef> refs_;
  std::string scratch_;
};

}  // namespace shoal
