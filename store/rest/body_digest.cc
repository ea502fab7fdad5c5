#include "store/rest/body_digest.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <vector>

#include "store/crc64.h"
#include "store/hash.h"

namespace shoal {
namespace {

constexpr size_t kChunk = 1 << 20;

// Feeds the body to `consume` in pieces of at most kChunk bytes.
Status for_each_chunk(const Body& body, const std::function<void(std::string_view)>& consume) {
  if (!body.is_file()) {
    consume(body.data);
    return {};
  }
  int fd = ::open(body.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("opening upload body " + body.path, errno);
  std::vector<char> buf(kChunk);
  uint64_t done = 0;
  Status status;
  while (done < body.length) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, body.length - done));
    ssize_t got = ::pread(fd, buf.data(), want, static_cast<off_t>(body.offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      status = errno_error("reading upload body " + body.path, errno);
      break;
    }
    if (got == 0) {
      status = Error(ErrorKind::kIo, "upload body " + body.path + " is shorter than the " +
                                         std::to_string(body.length) + " bytes to send");
      break;
    }
    consume(std::string_view(buf.data(), static_cast<size_t>(got)));
    done += static_cast<uint64_t>(got);
  }
  ::close(fd);
  return status;
}

}  // namespace

Result<std::string> body_content_md5(const Body& body) {
  Digest digest = Digest::md5();
  SHOAL_TRY(for_each_chunk(body, [&](std::string_view chunk) { digest.update(chunk); }));
  return base64_encode(digest.finish());
}

Status add_upload_digests(Body& body, bool md5, bool crc64) {
  Digest digest = Digest::md5();
  uint64_t crc = 0;
  SHOAL_TRY(for_each_chunk(body, [&](std::string_view chunk) {
    if (md5) digest.update(chunk);
    if (crc64) crc = crc64_update(crc, chunk);
  }));
  if (md5) body.content_md5 = base64_encode(digest.finish());
  if (crc64) body.crc64 = crc;
  return {};
}

Result<uint64_t> body_crc64(const Body& body) {
  uint64_t crc = 0;
  SHOAL_TRY(for_each_chunk(body, [&](std::string_view chunk) { crc = crc64_update(crc, chunk); }));
  return crc;
}

}  // namespace shoal
