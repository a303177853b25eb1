// Atomic file replacement: write to a temporary file in the same directory, fsync it, rename it
// over the target, fsync the directory. A crash at any point leaves either the old file or the
// new one, never a torn file.
#pragma once

#include <functional>
#include <string>

namespace tandem::io {

// Calls write(fd) to fill the temporary file; throws naming `path` on any failure (the old file
// is left untouched and the temporary removed).
void atomic_write(const std::string& path, const std::function<void(int fd)>& write);
void atomic_write_file(const std::string& path, const std::string& contents);
// Writes all of [data, data+n) to fd (retrying short writes); throws naming `path`.
void write_all(int fd, const void* data, size_t n, const std::string& path);

}  // namespace tandem::io
