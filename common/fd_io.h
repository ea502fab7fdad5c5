// Whole reads and writes on file descriptors: the loops that retry EINTR and short transfers,
// written once. `what` names the operation in errors ("write /var/x", "send to the writer");
// errors carry errno through errno_error.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace shoal {

// Writes all of `data` at the file position (or to the socket/pipe). On a socket it sends
// with MSG_NOSIGNAL, so a peer that went away is an EPIPE error, never a SIGPIPE.
Status write_all(int fd, std::string_view data, std::string_view what);

// Writes all of `data` at `offset` with pwrite (the file position is not used).
Status pwrite_all(int fd, std::string_view data, uint64_t offset, std::string_view what);

// Reads up to `length` bytes at `offset` into `out`, stopping early only at end of file.
// Returns the number of bytes read (less than `length` means the file ended).
Result<size_t> pread_full(int fd, void* out, size_t length, uint64_t offset,
                          std::string_view what);

// Reads exactly `length` bytes at `offset` of the file at `path` (open as `fd`). Fewer
// means the file shrank under us: a kIntegrity error naming the offset where it ended.
Result<std::string> pread_exact(int fd, uint64_t offset, uint64_t length,
                                const std::string& path);

// The same into caller memory (preadv, no copy): `into` must hold at least `length` bytes;
// only the first `length` are filled.
Status preadv_exact(int fd, uint64_t offset, uint64_t length, std::vector<iovec> into,
                    const std::string& path);

// Reads until end of file (a socket's or pipe's peer closing its side).
Result<std::string> read_to_end(int fd, std::string_view what);

}  // namespace shoal
