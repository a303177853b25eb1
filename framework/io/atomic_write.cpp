// Temp file + fsync + rename + directory fsync.
#include "framework/io/atomic_write.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "kernels/common/error.h"

namespace tandem::io {

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot write " + path + ": " + std::strerror(errno), "check free disk space");
    }
    p += w;
    n -= size_t(w);
  }
}

void atomic_write(const std::string& path, const std::function<void(int fd)>& write) {
  const std::filesystem::path target(path);
  const std::filesystem::path dir =
      target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  std::string temp_name = ".";  // built step by step: GCC 12 warns (-Wrestrict) on the one-liner
  temp_name += target.filename().string();
  temp_name += ".tmp.XXXXXX";
  std::string tmpl = (dir / temp_name).string();
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0)
    throw Error("cannot create a temporary file next to " + path + ": " + std::strerror(errno));
  try {
    write(fd);
    if (::fsync(fd) != 0) throw Error("cannot fsync " + tmpl + ": " + std::strerror(errno));
    if (::fchmod(fd, 0644) != 0) throw Error("cannot chmod " + tmpl + ": " + std::strerror(errno));
    ::close(fd);
  } catch (...) {
    ::close(fd);
    ::unlink(tmpl.c_str());
    throw;
  }
  if (std::rename(tmpl.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmpl.c_str());
    throw Error("cannot rename " + tmpl + " to " + path + ": " + why);
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);  // make the rename itself durable
    ::close(dfd);
  }
}

void atomic_write_file(const std::string& path, const std::string& contents) {
  atomic_write(path, [&](int fd) { write_all(fd, contents.data(), contents.size(), path); });
}

}  // namespace tandem::io
