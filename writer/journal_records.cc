// Encoding of the journal's record payloads: fixed-width little-endian integers and
// u32-length-prefixed strings, in the field order of each struct.
#include <bit>
#include <cstring>
#include <type_traits>

#include "writer/journal.h"

namespace shoal {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the journal is little-endian on disk and shoal targets little-endian hosts");

class PayloadWriter {
 public:
  explicit PayloadWriter(std::string& out) : out_(out) {}
  template <class Int>
  void integer(Int v) {
    static_assert(std::is_integral_v<Int>);
    char bytes[sizeof(Int)];
    std::memcpy(bytes, &v, sizeof(Int));
    out_.append(bytes, sizeof(Int));
  }
  void string(std::string_view s) {
    integer(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }

 private:
  std::string& out_;
};

// Reads fields in order; any overrun marks the whole payload bad instead of failing field by
// field, so each decoder reads straight through and checks once at the end.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view in) : in_(in) {}
  template <class Int>
  Int integer() {
    Int v{};
    if (!take(sizeof(Int))) return v;
    std::memcpy(&v, in_.data() + pos_ - sizeof(Int), sizeof(Int));
    return v;
  }
  std::string string() {
    auto n = integer<uint32_t>();
    if (!take(n)) return {};
    return std::string(in_.substr(pos_ - n, n));
  }
  // True when every byte was consumed and nothing overran.
  bool complete() const { return ok_ && pos_ == in_.size(); }

 private:
  bool take(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    pos_ += n;
    return true;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

void encode(const FileTaken& r, PayloadWriter& w) {
  w.integer(r.upload_id);
  w.string(r.source_path);
  w.string(r.spool_path);
  w.string(r.key);
  w.integer(r.size);
  w.integer(r.mtime_ns);
  w.integer(static_cast<uint8_t>(r.crc64.has_value()));
  if (r.crc64) w.integer(*r.crc64);
}
void encode(const MultipartStarted& r, PayloadWriter& w) {
  w.integer(r.upload_id);
  w.string(r.multipart_id);
  w.integer(r.part_size);
}
void encode(const PartUploaded& r, PayloadWriter& w) {
  w.integer(r.upload_id);
  w.integer(r.part_number);
  w.string(r.etag);
  w.integer(r.crc64);
  w.integer(r.size);
}
void encode(const UploadCompleted& r, PayloadWriter& w) {
  w.integer(r.upload_id);
  w.string(r.etag);
}
void encode(const AppendAdvanced& r, PayloadWriter& w) {
  w.integer(r.stream_id);
  w.string(r.key);
  w.integer(r.position);
}
void encode(const DeletedLocally& r, PayloadWriter& w) { w.integer(r.upload_id); }
void encode(const RetiredRemotely& r, PayloadWriter& w) { w.integer(r.upload_id); }

void decode(FileTaken& r, PayloadReader& in) {
  r.upload_id = in.integer<uint64_t>();
  r.source_path = in.string();
  r.spool_path = in.string();
  r.key = in.string();
  r.size = in.integer<uint64_t>();
  r.mtime_ns = in.integer<int64_t>();
  if (in.integer<uint8_t>() != 0) r.crc64 = in.integer<uint64_t>();
}
void decode(MultipartStarted& r, PayloadReader& in) {
  r.upload_id = in.integer<uint64_t>();
  r.multipart_id = in.string();
  r.part_size = in.integer<uint64_t>();
}
void decode(PartUploaded& r, PayloadReader& in) {
  r.upload_id = in.integer<uint64_t>();
  r.part_number = in.integer<uint32_t>();
  r.etag = in.string();
  r.crc64 = in.integer<uint64_t>();
  r.size = in.integer<uint64_t>();
}
void decode(UploadCompleted& r, PayloadReader& in) {
  r.upload_id = in.integer<uint64_t>();
  r.etag = in.string();
}
void decode(AppendAdvanced& r, PayloadReader& in) {
  r.stream_id = in.integer<uint64_t>();
  r.key = in.string();
  r.position = in.integer<uint64_t>();
}
void decode(DeletedLocally& r, PayloadReader& in) { r.upload_id = in.integer<uint64_t>(); }
void decode(RetiredRemotely& r, PayloadReader& in) { r.upload_id = in.integer<uint64_t>(); }

// Type tags are the variant's alternative index + 1 (0 is never a valid tag).
template <size_t I = 0>
Result<JournalRecord> decode_alternative(size_t index, std::string_view payload) {
  if constexpr (I < std::variant_size_v<JournalRecord>) {
    if (index != I) return decode_alternative<I + 1>(index, payload);
    std::variant_alternative_t<I, JournalRecord> record;
    PayloadReader in(payload);
    decode(record, in);
    if (!in.complete()) {
      return Error(ErrorKind::kCorrupt, "journal record of type " + std::to_string(I + 1) +
                                            " has a malformed payload of " +
                                            std::to_string(payload.size()) + " bytes");
    }
    return JournalRecord(std::move(record));
  } else {
    return Error(ErrorKind::kUnsupported,
                 "journal record type " + std::to_string(index + 1) +
                     " is unknown (written by a newer shoal?)");
  }
}

}  // namespace

uint8_t journal_record_type(const JournalRecord& record) {
  return static_cast<uint8_t>(record.index() + 1);
}

void encode_journal_payload(const JournalRecord& record, std::string& out) {
  PayloadWriter w(out);
  std::visit([&](const auto& r) { encode(r, w); }, record);
}

Result<JournalRecord> decode_journal_payload(uint8_t type, std::string_view payload) {
  if (type == 0) return Error(ErrorKind::kCorrupt, "journal record type 0 is invalid");
  return decode_alternative(size_t{type} - 1, payload);
}

}  // namespace shoal
