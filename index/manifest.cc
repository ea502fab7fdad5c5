#include "index/manifest.h"

#include "index/csv.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <utility>
#include <vector>

#include <zlib.h>

#include "common/fd_io.h"

namespace shoal {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

// Where each needed column sits in a record.
struct Columns {
  static constexpr std::array<std::string_view, 4> kNames = {"key", "size", "etag", "mtime"};
  std::array<size_t, 4> index = {0, 1, 2, 3};
  size_t count = 4;
};

bool looks_like_header(const std::vector<std::string_view>& fields) {
  auto has = [&](std::string_view name) {
    return std::any_of(fields.begin(), fields.end(), [&](auto f) { return iequals(f, name); });
  };
  return has("key") && has("size");
}

// The columns named by a header line, or what is missing from it.
bool read_header(const std::vector<std::string_view>& fields, Columns& out, std::string& problem) {
  Columns columns;
  for (size_t c = 0; c < Columns::kNames.size(); ++c) {
    auto it = std::find_if(fields.begin(), fields.end(),
                           [&](auto f) { return iequals(f, Columns::kNames[c]); });
    if (it == fields.end()) {
      problem = "the header has no \"" + std::string(Columns::kNames[c]) + "\" column";
      return false;
    }
    columns.index[c] = static_cast<size_t>(it - fields.begin());
  }
  columns.count = fields.size();
  out = columns;
  return true;
}


bool parse_entry(const std::vector<std::string_view>& fields, const Columns& columns,
                 ManifestEntry& entry, std::string& problem) {
  if (fields.size() != columns.count) {
    problem = "expected " + std::to_string(columns.count) + " fields, found " +
              std::to_string(fields.size());
    return false;
  }
  return fill_manifest_entry(fields[columns.index[0]], fields[columns.index[1]],
                             fields[columns.index[2]], fields[columns.index[3]], entry, problem);
}

// Reads `digits` decimal digits at `pos`, advancing it.
bool take_number(std::string_view s, size_t& pos, size_t digits, int& out) {
  if (s.size() - pos < digits) return false;
  out = 0;
  for (size_t i = 0; i < digits; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += digits;
  return true;
}

bool take_char(std::string_view s, size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

// Fraction of a second after '.', as nanoseconds; digits past the ninth are dropped.
bool take_fraction(std::string_view s, size_t& pos, int64_t& ns) {
  if (!take_char(s, pos, '.')) return true;
  size_t digits = 0;
  ns = 0;
  for (; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++digits) {
    if (digits < 9) ns = ns * 10 + (s[pos] - '0');
  }
  for (size_t d = digits; d < 9; ++d) ns *= 10;
  return digits > 0;
}

// 'Z', nothing, or ±HH:MM / ±HHMM, as seconds east of UTC.
bool take_offset(std::string_view s, size_t& pos, int64_t& seconds) {
  seconds = 0;
  if (pos == s.size()) return true;
  if (s[pos] == 'Z' || s[pos] == 'z') return ++pos == s.size();
  if (s[pos] != '+' && s[pos] != '-') return false;
  int sign = s[pos++] == '-' ? -1 : 1;
  int hh = 0, mm = 0;
  if (!take_number(s, pos, 2, hh)) return false;
  take_char(s, pos, ':');
  if (!take_number(s, pos, 2, mm) || hh > 23 || mm > 59 || pos != s.size()) return false;
  seconds = sign * (hh * 3600 + mm * 60);
  return true;
}

Error bad_time(std::string_view text, std::string_view why) {
  return Error(ErrorKind::kInvalidArgument,
               "mtime " + shown_field(text) +
                   " is not an ISO 8601 time like 2026-01-02T03:04:05.000Z (" + std::string(why) +
                   ")");
}

}  // namespace

Result<int64_t> parse_manifest_mtime(std::string_view text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  size_t pos = 0;
  bool shape = take_number(text, pos, 4, y) && take_char(text, pos, '-') &&
               take_number(text, pos, 2, mo) && take_char(text, pos, '-') &&
               take_number(text, pos, 2, d) &&
               (take_char(text, pos, 'T') || take_char(text, pos, 't')) &&
               take_number(text, pos, 2, h) && take_char(text, pos, ':') &&
               take_number(text, pos, 2, mi) && take_char(text, pos, ':') &&
               take_number(text, pos, 2, s);
  int64_t fraction_ns = 0, offset_s = 0;
  if (!shape || !take_fraction(text, pos, fraction_ns) || !take_offset(text, pos, offset_s)) {
    return bad_time(text, "malformed");
  }
  using namespace std::chrono;
  year_month_day date{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!date.ok() || h > 23 || mi > 59 || s > 59) return bad_time(text, "no such date or time");
  int64_t days = sys_days{date}.time_since_epoch().count();
  int64_t seconds = days * 86400 + h * 3600 + mi * 60 + s - offset_s;
  // int64 nanoseconds span the years 1677-2262.
  constexpr int64_t kLimit = INT64_MAX / 1'000'000'000 - 1;
  if (seconds < -kLimit || seconds > kLimit) return bad_time(text, "outside years 1678-2261");
  return seconds * 1'000'000'000 + fraction_ns;
}

std::string shown_field(std::string_view field) {
  constexpr size_t kMax = 64;
  std::string out = "'" + std::string(field.substr(0, kMax));
  return out + (field.size() > kMax ? "…'" : "'");
}

bool fill_manifest_entry(std::string_view key, std::string_view size, std::string_view etag,
                         std::string_view mtime, ManifestEntry& entry, std::string& problem) {
  entry.key = key;
  if (entry.key.empty()) {
    problem = "the key is empty";
    return false;
  }
  auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), entry.size);
  if (size.empty() || ec != std::errc() || end != size.data() + size.size()) {
    problem = "size " + shown_field(size) + " is not a whole number of bytes";
    return false;
  }
  entry.etag = etag;
  if (entry.etag.size() >= 2 && entry.etag.front() == '"' && entry.etag.back() == '"')
    entry.etag = entry.etag.substr(1, entry.etag.size() - 2);
  auto parsed = parse_manifest_mtime(mtime);
  if (!parsed.ok()) {
    problem = parsed.error().message;
    return false;
  }
  entry.mtime_ns = *parsed;
  return true;
}

Result<ManifestStats> parse_manifest(std::string_view text, std::string_view name,
                                     const ManifestSink& sink, const MalformedSink& on_malformed) {
  CsvReader reader(text);
  std::vector<std::string_view> fields;
  std::string problem;
  Columns columns;
  ManifestStats stats;
  bool first = true;
  auto malformed = [&]() -> Status {
    ++stats.malformed;
    Error e(ErrorKind::kInvalidArgument, "manifest " + std::string(name) + " line " +
                                             std::to_string(reader.record_line()) + ": " + problem);
    if (!on_malformed) return e;
    on_malformed(e);
    return {};
  };
  for (;;) {
    auto outcome = reader.next(fields, problem);
    if (outcome == CsvReader::Outcome::kEnd) break;
    if (outcome == CsvReader::Outcome::kBlank) continue;
    bool header = first && outcome == CsvReader::Outcome::kRecord && looks_like_header(fields);
    first = false;
    ManifestEntry entry;
    if (header) {
      stats.had_header = true;
      if (!read_header(fields, columns, problem)) SHOAL_TRY(malformed());
    } else if (outcome == CsvReader::Outcome::kMalformed ||
               !parse_entry(fields, columns, entry, problem)) {
      SHOAL_TRY(malformed());
    } else {
      entry.line = reader.record_line();
      SHOAL_TRY(sink(entry));
      ++stats.entries;
    }
  }
  return stats;
}

namespace {

constexpr size_t kCopyChunk = 1 << 20;

// Copies what `fd` holds from here to its end into `out`, inflating gzip (several members, as
// `cat a.gz b.gz` makes) when the bytes start with its magic. A gzip stream that ends early or
// is damaged is an error: a manifest cut short must not become a smaller index.
Status copy_manifest(int fd, int out, const std::string& path) {
  std::vector<unsigned char> in(kCopyChunk), inflated(kCopyChunk);
  auto read_some = [&](size_t& n) -> Status {
    for (;;) {
      ssize_t got = ::read(fd, in.data(), in.size());
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return errno_error("reading manifest " + path, errno);
      n = static_cast<size_t>(got);
      return {};
    }
  };
  auto write_out = [&](const unsigned char* p, size_t n) -> Status {
    return write_all(out, std::string_view(reinterpret_cast<const char*>(p), n),
                     "copying manifest " + path + " to memory");
  };
  size_t n = 0;
  SHOAL_TRY(read_some(n));
  // The magic may straddle reads of a pipe: wait for two bytes before deciding.
  while (n == 1) {
    ssize_t got = ::read(fd, in.data() + 1, in.size() - 1);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return errno_error("reading manifest " + path, errno);
    if (got == 0) break;
    n += static_cast<size_t>(got);
  }
  bool gzip = n >= 2 && in[0] == 0x1f && in[1] == 0x8b;
  if (!gzip) {
    while (n > 0) {
      SHOAL_TRY(write_out(in.data(), n));
      SHOAL_TRY(read_some(n));
    }
    return {};
  }
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
    return Error(ErrorKind::kInternal, "zlib inflateInit2 failed for manifest " + path);
  struct End {
    z_stream* z;
    ~End() { inflateEnd(z); }
  } end{&z};
  bool member_done = false;
  for (;;) {
    z.next_in = in.data();
    z.avail_in = static_cast<uInt>(n);
    while (z.avail_in > 0) {
      if (member_done) {
        inflateReset(&z);  // another gzip member follows
        member_done = false;
      }
      z.next_out = inflated.data();
      z.avail_out = static_cast<uInt>(inflated.size());
      int rc = inflate(&z, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        return Error(ErrorKind::kInvalidArgument,
                     "manifest " + path + " is not valid gzip (" +
                         (z.msg != nullptr ? z.msg : "zlib error " + std::to_string(rc)) + ")");
      }
      SHOAL_TRY(write_out(inflated.data(), inflated.size() - z.avail_out));
      if (rc == Z_STREAM_END) member_done = true;
    }
    SHOAL_TRY(read_some(n));
    if (n == 0) break;
  }
  if (!member_done) {
    return Error(ErrorKind::kInvalidArgument,
                 "manifest " + path + " is a truncated gzip stream (it ends inside compressed "
                 "data): nothing was indexed from it");
  }
  return {};
}

}  // namespace

Result<ManifestFile> ManifestFile::open(std::string path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("open manifest " + path, errno);
  return adopt(std::move(path), fd);
}

Result<ManifestFile> ManifestFile::from_bytes(std::string name, std::string_view bytes) {
  int mem = ::memfd_create("shoal-manifest", MFD_CLOEXEC);
  if (mem < 0) return errno_error("creating a memory file for manifest " + name, errno);
  Status written = write_all(mem, bytes, "copying manifest " + name + " to memory");
  if (!written.ok() || ::lseek(mem, 0, SEEK_SET) != 0) {
    ::close(mem);
    return written.ok() ? errno_error("rewinding manifest " + name, errno) : written.error();
  }
  return adopt(std::move(name), mem);
}

Result<ManifestFile> ManifestFile::adopt(std::string path, int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Error e = errno_error("stat manifest " + path, errno);
    ::close(fd);
    return e;
  }
  unsigned char magic[2] = {};
  bool regular = S_ISREG(st.st_mode);
  bool gzip = regular && ::pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  if (!regular || gzip) {
    // A pipe (`--from-manifest /dev/stdin`), a FIFO or a gzip file cannot be mapped as it is:
    // its bytes go (inflated) into an anonymous memory file, which is mapped like a manifest.
    int mem = ::memfd_create("shoal-manifest", MFD_CLOEXEC);
    if (mem < 0) {
      Error e = errno_error("creating a memory file for manifest " + path, errno);
      ::close(fd);
      return e;
    }
    Status copied = copy_manifest(fd, mem, path);
    ::close(fd);
    if (!copied.ok()) {
      ::close(mem);
      return copied.error();
    }
    fd = mem;
    if (::fstat(fd, &st) != 0) {
      Error e = errno_error("stat manifest " + path, errno);
      ::close(fd);
      return e;
    }
  }
  size_t size = static_cast<size_t>(st.st_size);
  void* data = nullptr;
  if (size > 0) {
    data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) {
      Error e = errno_error("map manifest " + path, errno);
      ::close(fd);
      return e;
    }
    ::madvise(data, size, MADV_SEQUENTIAL);  // only a hint: its failure changes nothing
  }
  ::close(fd);
  return ManifestFile(std::move(path), data, size);
}

ManifestFile::ManifestFile(ManifestFile&& other) noexcept { *this = std::move(other); }

ManifestFile& ManifestFile::operator=(ManifestFile&& other) noexcept {
  if (this == &other) return *this;
  unmap();
  path_ = std::move(other.path_);
  data_ = std::exchange(other.data_, nullptr);
  size_ = std::exchange(other.size_, 0);
  return *this;
}

ManifestFile::~ManifestFile() { unmap(); }

void ManifestFile::unmap() {
  if (data_ != nullptr) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace shoal
