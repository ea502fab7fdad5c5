// Reading files back in tests: whole files, byte ranges by path or by descriptor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace shoal::test {

// The whole file; shorter than the file if a read fails, empty if it cannot be opened.
std::string read_file(const std::string& path);

// [offset, offset + length) read with pread; shorter at the end of the file or on an error,
// whose errno is stored in `*error` when given.
std::vector<uint8_t> pread_range(int fd, uint64_t offset, size_t length, int* error = nullptr);

// The same by path; empty if the file cannot be opened.
std::vector<uint8_t> read_range(const std::string& path, uint64_t offset, size_t length);

}  // namespace shoal::test
