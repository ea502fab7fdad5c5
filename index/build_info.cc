#include "index/build_info.h"

#include <cstring>
#include <ctime>

namespace shoal::index {
namespace {

// Tags are part of the on-disk format: never renumber one, only add.
enum class Tag : uint16_t {
  kSource = 1,
  kPrefix = 2,
  kBuilt = 3,
  kObjects = 4,
  kFiles = 5,
  kDirectories = 6,
  kOutsidePrefix = 7,
  kKeepMtime = 8,
  kSkipped = 9,
};

constexpr size_t kRecordHeader = 6;  // u16 tag + u32 length
constexpr auto kLastReason = SkipReason::kDuplicate;

void put_le(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t get_le(const char* p, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return value;
}

void record(std::string& out, Tag tag, std::string_view value) {
  put_le(out, static_cast<uint16_t>(tag), 2);
  put_le(out, value.size(), 4);
  out.append(value);
}

void record_u64(std::string& out, Tag tag, uint64_t value) {
  std::string bytes;
  put_le(bytes, value, 8);
  record(out, tag, bytes);
}

Error corrupt(std::string what) {
  return Error(ErrorKind::kCorrupt, "in section build-info: " + std::move(what));
}

std::string iso_time(int64_t unix_seconds) {
  std::time_t t = unix_seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string encode_build_info(const BuildInfo& info) {
  std::string out;
  record(out, Tag::kSource, info.source);
  record(out, Tag::kPrefix, info.prefix);
  record_u64(out, Tag::kBuilt, static_cast<uint64_t>(info.built_unix));
  record_u64(out, Tag::kObjects, info.objects);
  record_u64(out, Tag::kFiles, info.files);
  record_u64(out, Tag::kDirectories, info.directories);
  record_u64(out, Tag::kOutsidePrefix, info.outside_prefix);
  record_u64(out, Tag::kKeepMtime, info.keep_mtime ? 1 : 0);
  for (const SkippedKey& s : info.skipped) {
    std::string value(1, static_cast<char>(s.reason));
    value += s.key;
    record(out, Tag::kSkipped, value);
  }
  return out;
}

Result<BuildInfo> decode_build_info(std::span<const char> bytes) {
  BuildInfo info;
  bool have_source = false, have_prefix = false;
  size_t at = 0;
  while (at < bytes.size()) {
    if (bytes.size() - at < kRecordHeader)
      return corrupt("a record header is cut off at byte " + std::to_string(at));
    auto tag = static_cast<Tag>(get_le(bytes.data() + at, 2));
    uint64_t length = get_le(bytes.data() + at + 2, 4);
    if (length > bytes.size() - at - kRecordHeader)
      return corrupt("the record at byte " + std::to_string(at) + " runs past the section");
    std::string_view value(bytes.data() + at + kRecordHeader, length);
    auto u64 = [&](auto& field) -> Status {
      if (value.size() != 8)
        return corrupt("an integer of " + std::to_string(value.size()) + " bytes at byte " +
                       std::to_string(at));
      field = static_cast<std::remove_reference_t<decltype(field)>>(get_le(value.data(), 8));
      return {};
    };
    switch (tag) {
      case Tag::kSource: info.source = value; have_source = true; break;
      case Tag::kPrefix: info.prefix = value; have_prefix = true; break;
      case Tag::kBuilt: SHOAL_TRY(u64(info.built_unix)); break;
      case Tag::kObjects: SHOAL_TRY(u64(info.objects)); break;
      case Tag::kFiles: SHOAL_TRY(u64(info.files)); break;
      case Tag::kDirectories: SHOAL_TRY(u64(info.directories)); break;
      case Tag::kOutsidePrefix: SHOAL_TRY(u64(info.outside_prefix)); break;
      case Tag::kKeepMtime: {
        uint64_t flag = 0;
        SHOAL_TRY(u64(flag));
        info.keep_mtime = flag != 0;
        break;
      }
      case Tag::kSkipped: {
        if (value.empty()) return corrupt("an empty skipped-key record at byte " + std::to_string(at));
        auto reason = static_cast<uint8_t>(value[0]);
        if (reason == 0 || reason > static_cast<uint8_t>(kLastReason))
          return corrupt("unknown skip reason " + std::to_string(reason) + " at byte " +
                         std::to_string(at));
        info.skipped.push_back({static_cast<SkipReason>(reason), std::string(value.substr(1))});
        break;
      }
      default: break;  // a field added by a later builder
    }
    at += kRecordHeader + length;
  }
  if (!have_source || !have_prefix)
    return corrupt(std::string("the ") + (have_source ? "prefix" : "source") + " field is missing");
  return info;
}

std::string describe(const BuildInfo& info) {
  std::string out;
  auto line = [&](std::string_view k, const std::string& v) {
    out.append(k).append(": ").append(v).append("\n");
  };
  line("source", info.source);
  line("prefix", info.prefix);
  line("built", iso_time(info.built_unix));
  line("objects", std::to_string(info.objects));
  line("files", std::to_string(info.files));
  line("directories", std::to_string(info.directories));
  line("skipped", std::to_string(info.skipped.size()));
  line("outside-prefix", std::to_string(info.outside_prefix));
  line("keep-mtime", info.keep_mtime ? "true" : "false");
  for (const SkippedKey& s : info.skipped)
    out.append("skipped: ").append(to_string(s.reason)).append("\t").append(s.key).append("\n");
  return out;
}

}  // namespace shoal::index
