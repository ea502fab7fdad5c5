#include "index/index_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <memory>
#include <vector>
#include <utility>

#include "common/fd_io.h"

namespace shoal::index {

static_assert(std::endian::native == std::endian::little,
              "the index is little-endian and mapped in place");

namespace {

constexpr char kMagic[8] = {'S', 'H', 'O', 'A', 'L', 'I', 'D', 'X'};
constexpr uint32_t kHeaderSize = 4096;
constexpr uint32_t kMaxSections = 8;
constexpr std::array kAllSections = {SectionKind::kMetadata, SectionKind::kExtents,
                                     SectionKind::kObjects, SectionKind::kStrings,
                                     SectionKind::kBuildInfo};

struct SectionEntry {
  uint32_t kind;
  uint32_t reserved;
  uint64_t offset;
  uint64_t length;
  uint64_t xxh3;
};
static_assert(sizeof(SectionEntry) == 32);

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_size;
  uint32_t block_size;
  uint32_t section_count;
  uint64_t device_blocks;
  uint32_t metadata_blocks;
  uint32_t reserved;
  uint64_t object_count;
  uint64_t extent_count;
  int64_t created_unix;
  SectionEntry sections[kMaxSections];
  uint64_t header_xxh3;  // of every header byte before this field
};
static_assert(sizeof(FileHeader) == 328);

uint64_t header_checksum(const FileHeader& h) {
  return XXH3_64bits(&h, offsetof(FileHeader, header_xxh3));
}

uint64_t align_up(uint64_t v) { return (v + kBlockSize - 1) / kBlockSize * kBlockSize; }

Error corrupt(const std::string& path, std::string what) {
  return Error(ErrorKind::kCorrupt, "index " + path + ": " + what +
                                        "; rebuild it with `shoal index build`");
}

// Writes the sections after the header block, hashing each as it goes, then the header
// (which holds the hashes) at offset 0.
class SectionWriter {
 public:
  SectionWriter(int fd, const std::string& path) : fd_(fd), path_(path) {}

  Status begin(SectionKind kind) {
    entry_ = {static_cast<uint32_t>(kind), 0, offset_, 0, 0};
    XXH3_64bits_reset(state_.get());
    return {};
  }
  Status append(const void* data, size_t len) {
    SHOAL_TRY(pwrite_all(data, len));
    XXH3_64bits_update(state_.get(), data, len);
    entry_.length += len;
    return {};
  }
  // Pads to the next block unless this is the last section, so the file ends where its data
  // does and any truncation cuts into a section.
  Status end(bool last) {
    entry_.xxh3 = XXH3_64bits_digest(state_.get());
    entries_.push_back(entry_);
    if (!last) {
      static const std::vector<char> zeros(kBlockSize, 0);
      SHOAL_TRY(pwrite_all(zeros.data(), align_up(offset_) - offset_));
    }
    return {};
  }
  const std::vector<SectionEntry>& entries() const { return entries_; }
  Status write_at(uint64_t offset, const void* data, size_t len) {
    offset_ = offset;
    return pwrite_all(data, len);
  }

 private:
  Status pwrite_all(const void* data, size_t len) {
    SHOAL_TRY(shoal::pwrite_all(fd_, std::string_view(static_cast<const char*>(data), len),
                                offset_, "writing " + path_));
    offset_ += len;
    return {};
  }

  int fd_;
  const std::string& path_;
  uint64_t offset_ = kHeaderSize;
  SectionEntry entry_{};
  std::vector<SectionEntry> entries_;
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state_{XXH3_createState(), &XXH3_freeState};
};

Status write_sections(int fd, const std::string& tmp, const IndexContents& c) {
  SectionWriter w(fd, tmp);
  uint64_t metadata_bytes = 0;
  SHOAL_TRY(w.begin(SectionKind::kMetadata));
  if (c.write_metadata) {
    SHOAL_TRY(c.write_metadata([&](std::span<const uint8_t> block) {
      metadata_bytes += block.size();
      return w.append(block.data(), block.size());
    }));
  } else {
    metadata_bytes = c.metadata.size();
    SHOAL_TRY(w.append(c.metadata.data(), c.metadata.size()));
  }
  if (metadata_bytes != uint64_t{c.summary.metadata_blocks} * kBlockSize)
    return Error(ErrorKind::kInternal, "index metadata size does not match its block count");
  SHOAL_TRY(w.end(false));
  const std::string build_info = encode_build_info(c.build_info);
  const std::pair<SectionKind, std::span<const char>> rest[] = {
      {SectionKind::kExtents, std::span(reinterpret_cast<const char*>(c.extents.data()), c.extents.size_bytes())},
      {SectionKind::kObjects, std::span(reinterpret_cast<const char*>(c.objects.data()), c.objects.size_bytes())},
      {SectionKind::kStrings, c.strings},
      {SectionKind::kBuildInfo, std::span(build_info.data(), build_info.size())},
  };
  for (size_t i = 0; i < std::size(rest); ++i) {
    SHOAL_TRY(w.begin(rest[i].first));
    SHOAL_TRY(w.append(rest[i].second.data(), rest[i].second.size()));
    SHOAL_TRY(w.end(i + 1 == std::size(rest)));
  }

  FileHeader header{};
  std::memcpy(header.magic, kMagic, sizeof kMagic);
  header.version = kFormatVersion;
  header.header_size = kHeaderSize;
  header.block_size = kBlockSize;
  header.device_blocks = c.summary.device_blocks;
  header.metadata_blocks = c.summary.metadata_blocks;
  header.object_count = c.objects.size();
  header.extent_count = c.extents.size();
  header.created_unix = c.summary.created_unix;
  header.section_count = static_cast<uint32_t>(w.entries().size());
  std::copy(w.entries().begin(), w.entries().end(), header.sections);
  header.header_xxh3 = header_checksum(header);
  std::vector<char> block(kHeaderSize, 0);
  std::memcpy(block.data(), &header, sizeof header);
  return w.write_at(0, block.data(), block.size());
}

}  // namespace

std::string_view section_name(SectionKind kind) {
  switch (kind) {
    case SectionKind::kMetadata: return "metadata";
    case SectionKind::kExtents: return "extents";
    case SectionKind::kObjects: return "objects";
    case SectionKind::kStrings: return "strings";
    case SectionKind::kBuildInfo: return "build-info";
  }
  return "unknown";
}

Status write_index_file(const std::string& path, const IndexContents& contents) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_error("creating " + tmp, errno);
  Status written = write_sections(fd, tmp, contents);
  if (written.ok() && ::fsync(fd) != 0) written = errno_error("fsync " + tmp, errno);
  ::close(fd);
  if (written.ok() && ::rename(tmp.c_str(), path.c_str()) != 0)
    written = errno_error("renaming " + tmp + " to " + path, errno);
  if (!written.ok()) ::unlink(tmp.c_str());
  return written;
}

Result<IndexFile> IndexFile::open(const std::string& path, Verify verify) {
  IndexFile file;
  SHOAL_TRY(file.map(path));
  Status valid = file.validate(verify);
  if (!valid.ok()) return corrupt(path, valid.error().message);
  return file;
}

IndexFile::IndexFile(IndexFile&& other) noexcept { *this = std::move(other); }

IndexFile& IndexFile::operator=(IndexFile&& other) noexcept {
  if (this != &other) {
    unmap();
    base_ = std::exchange(other.base_, nullptr);
    size_ = std::exchange(other.size_, 0);
    summary_ = other.summary_;
    metadata_ = other.metadata_;
    extents_ = other.extents_;
    objects_ = other.objects_;
    strings_ = other.strings_;
    build_info_ = std::move(other.build_info_);
  }
  return *this;
}

IndexFile::~IndexFile() { unmap(); }

void IndexFile::unmap() {
  if (base_ != nullptr) ::munmap(const_cast<uint8_t*>(base_), size_);
  base_ = nullptr;
}

Status IndexFile::map(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("opening index " + path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return errno_error("stat " + path, err);
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ < kHeaderSize) {
    ::close(fd);
    return corrupt(path, "truncated in the header (" + std::to_string(size_) + " bytes)");
  }
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
  int err = errno;
  ::close(fd);
  if (p == MAP_FAILED) return errno_error("mapping index " + path, err);
  base_ = static_cast<const uint8_t*>(p);
  return {};
}

Status IndexFile::validate(Verify verify) {
  FileHeader h;
  std::memcpy(&h, base_, sizeof h);
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0)
    return Error(ErrorKind::kCorrupt, "not a shoal index (bad magic in the header)");
  if (h.version != kFormatVersion)
    return Error(ErrorKind::kCorrupt, "format version " + std::to_string(h.version) +
                                          " in the header; this shoal reads version " +
                                          std::to_string(kFormatVersion));
  if (h.header_xxh3 != header_checksum(h))
    return Error(ErrorKind::kCorrupt, "checksum mismatch in the header");
  if (h.header_size != kHeaderSize || h.block_size != kBlockSize || h.section_count > kMaxSections)
    return Error(ErrorKind::kCorrupt, "impossible sizes in the header");

  std::array<const SectionEntry*, kAllSections.size()> found{};
  for (uint32_t i = 0; i < h.section_count; ++i) {
    const SectionEntry& e = h.sections[i];
    auto pos = std::find(kAllSections.begin(), kAllSections.end(), SectionKind(e.kind));
    if (pos != kAllSections.end()) found[size_t(pos - kAllSections.begin())] = &h.sections[i];
  }
  for (size_t i = 0; i < kAllSections.size(); ++i) {
    std::string name(section_name(kAllSections[i]));
    const SectionEntry* e = found[i];
    if (e == nullptr) return Error(ErrorKind::kCorrupt, "section " + name + " is missing");
    if (e->offset % kBlockSize != 0 || e->offset < kHeaderSize || e->offset > size_ ||
        e->length > size_ - e->offset)
      return Error(ErrorKind::kCorrupt, "truncated in section " + name + " (needs bytes up to " +
                                            std::to_string(e->offset + e->length) + ", file has " +
                                            std::to_string(size_) + ")");
    if (verify == Verify::kChecksums && XXH3_64bits(base_ + e->offset, e->length) != e->xxh3)
      return Error(ErrorKind::kCorrupt, "checksum mismatch in section " + name);
  }
  auto bytes = [&](size_t i) { return std::span(base_ + found[i]->offset, found[i]->length); };
  if (bytes(0).size() != uint64_t{h.metadata_blocks} * kBlockSize ||
      bytes(1).size() != h.extent_count * sizeof(Extent) ||
      bytes(2).size() != h.object_count * sizeof(ObjectRecord) ||
      h.metadata_blocks > h.device_blocks)
    return Error(ErrorKind::kCorrupt, "section sizes disagree with the header's counts");

  summary_ = {h.device_blocks, h.metadata_blocks, h.object_count, h.extent_count, h.created_unix};
  metadata_ = bytes(0);
  extents_ = {reinterpret_cast<const Extent*>(bytes(1).data()), h.extent_count};
  objects_ = {reinterpret_cast<const ObjectRecord*>(bytes(2).data()), h.object_count};
  strings_ = {reinterpret_cast<const char*>(bytes(3).data()), bytes(3).size()};
  SHOAL_ASSIGN(build_info_, decode_build_info({reinterpret_cast<const char*>(bytes(4).data()),
                                                bytes(4).size()}));
  return {};
}

Status IndexFile::check_entries() const {
  auto bad = [](std::string what) { return Error(ErrorKind::kCorrupt, std::move(what)); };
  for (size_t i = 0; i < objects_.size(); ++i) {
    const ObjectRecord& o = objects_[i];
    if (uint64_t{o.key_offset} + o.key_length > strings_.size() ||
        uint64_t{o.etag_offset} + o.etag_length > strings_.size())
      return bad("section objects: object " + std::to_string(i) + " points outside the strings");
  }
  uint64_t next_free = summary_.metadata_blocks;
  for (size_t i = 0; i < extents_.size(); ++i) {
    const Extent& e = extents_[i];
    std::string where = "section extents: extent " + std::to_string(i);
    if (e.object >= objects_.size()) return bad(where + " names a missing object");
    const ObjectRecord& o = objects_[e.object];
    if (e.first_block < next_free) return bad(where + " overlaps the previous extent or metadata");
    if (o.first_block != e.first_block || o.size == 0)
      return bad(where + " disagrees with its object record");
    next_free = uint64_t{e.first_block} + blocks_of(o);
    if (next_free > summary_.device_blocks) return bad(where + " ends past the device");
  }
  return {};
}

std::string_view IndexFile::key(const ObjectRecord& o) const {
  if (uint64_t{o.key_offset} + o.key_length > strings_.size()) return {};
  return {strings_.data() + o.key_offset, o.key_length};
}

std::string_view IndexFile::etag(const ObjectRecord& o) const {
  if (uint64_t{o.etag_offset} + o.etag_length > strings_.size()) return {};
  return {strings_.data() + o.etag_offset, o.etag_length};
}

const Extent* IndexFile::find_extent(uint64_t block) const {
  auto it = std::upper_bound(extents_.begin(), extents_.end(), block,
                             [](uint64_t b, const Extent& e) { return b < e.first_block; });
  if (it == extents_.begin()) return nullptr;
  const Extent& e = *std::prev(it);
  if (e.object >= objects_.size()) return nullptr;
  if (block >= uint64_t{e.first_block} + blocks_of(objects_[e.object])) return nullptr;
  return &e;
}

}  // namespace shoal::index
