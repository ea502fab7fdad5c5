// The one interface every object-store backend implements: oss://, s3://, file://.
// Asynchronous: each call returns at once and its Done callback runs later on the reactor the
// store was opened with (never inline from the call). Keys are full keys within the bucket.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/reactor.h"
#include "common/result.h"

namespace shoal {

template <class T>
using Done = std::function<void(Result<T>)>;

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  std::string etag;      // without quotes
  int64_t mtime_ns = 0;  // last modified, nanoseconds since the Unix epoch
  std::optional<uint64_t> crc64;  // CRC-64/ECMA when the store reports it (OSS)
};

struct ListQuery {
  std::string prefix;
  std::string delimiter;           // "" lists recursively
  std::string start_after;         // only with an empty continuation token
  std::string continuation_token;  // from the previous page
  int max_keys = 1000;
};

struct ListPage {
  std::vector<ObjectInfo> objects;
  std::vector<std::string> common_prefixes;  // with a delimiter: "dir/" entries
  std::string next_token;                    // empty on the last page
};

struct ByteRange {
  uint64_t offset = 0;
  std::optional<uint64_t> length;  // none: to the end of the object
};

struct GetQuery {
  std::string key;
  std::optional<ByteRange> range;
  std::string if_match;  // the indexed ETag; the reply must match it
  // Memory the body may be written to instead of GetReply::data (the engine's cache buffers,
  // so a body is never grown in a string and copied again). It must hold the asked range and
  // stay valid and untouched by others until done runs. A store that writes there says so
  // with GetReply::in_place; one that does not (or cannot, for this answer) returns data as
  // usual, so callers handle both.
  std::vector<iovec> into;
};

struct GetReply {
  std::string data;     // the bytes, unless in_place
  uint64_t offset = 0;  // where the bytes start in the object
  ObjectInfo info;      // size is the whole object's size
  bool in_place = false;  // the bytes are the first `placed` of GetQuery::into; data is empty
  uint64_t placed = 0;

  uint64_t size() const { return in_place ? placed : data.size(); }
};

// Bytes to upload: held in memory, or a region of a local file read as it is sent (so a
// 10 GiB checkpoint is never loaded whole).
struct Body {
  std::string data;
  std::string path;  // non-empty: read [offset, offset+length) of this file
  uint64_t offset = 0;
  uint64_t length = 0;
  // Checksums the caller already computed (off its event loop, say); the store computes any
  // it needs that is missing.
  std::optional<std::string> content_md5;  // base64 of the raw MD5, as Content-MD5 carries it
  std::optional<uint64_t> crc64;           // CRC-64/ECMA

  static Body from_string(std::string s) { Body b; b.data = std::move(s); return b; }
  static Body from_file(std::string path, uint64_t offset, uint64_t length) {
    Body b; b.path = std::move(path); b.offset = offset; b.length = length; return b;
  }
  bool is_file() const { return !path.empty(); }
  uint64_t size() const { return is_file() ? length : data.size(); }
};

struct PutReply {
  std::string etag;
  std::optional<uint64_t> crc64;      // of the whole object, when the store reports it
  uint64_t next_append_position = 0;  // append only
  // Multipart uploads resumed from an earlier attempt: the bytes of the parts the store still
  // had (checked with ListParts) and that were not sent again.
  uint64_t resumed_bytes = 0;
};

struct PartInfo {
  int number = 0;  // 1-based
  std::string etag;
  uint64_t size = 0;
  std::optional<uint64_t> crc64;
};

struct Capabilities {
  bool append = false;        // OSS AppendObject (file:// emulates it)
  bool if_match = false;      // GET honours If-Match
  bool crc64 = false;         // replies carry x-oss-hash-crc64ecma
  bool content_md5 = false;   // uploads carry Content-MD5 (S3)
  bool list_parts = false;    // an interrupted multipart upload can be resumed
  uint64_t min_part_size = 5ull << 20;
  uint64_t max_part_size = 5ull << 30;
  int max_parts = 10000;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  virtual Capabilities capabilities() const = 0;
  // A short, secret-free description for logs: "s3://bucket at http://127.0.0.1:4568".
  virtual std::string describe() const = 0;

  virtual void list(ListQuery query, Done<ListPage> done) = 0;
  virtual void head(std::string key, Done<ObjectInfo> done) = 0;
  virtual void get(GetQuery query, Done<GetReply> done) = 0;
  virtual void put(std::string key, Body body, Done<PutReply> done) = 0;
  virtual void remove(std::string key, Done<void> done) = 0;

  virtual void create_multipart(std::string key, Done<std::string> done) = 0;  // upload id
  virtual void upload_part(std::string key, std::string upload_id, int number, Body body,
                           Done<PartInfo> done) = 0;
  virtual void complete_multipart(std::string key, std::string upload_id,
                                  std::vector<PartInfo> parts, Done<PutReply> done) = 0;
  virtual void abort_multipart(std::string key, std::string upload_id, Done<void> done) = 0;
  virtual void list_parts(std::string key, std::string upload_id,
                          Done<std::vector<PartInfo>> done) = 0;

  // Appends at `position`, which must equal the object's current length (0 creates it).
  virtual void append(std::string key, uint64_t position, Body body, Done<PutReply> done) = 0;
};

}  // namespace shoal
