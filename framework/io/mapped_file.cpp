// mmap(2) of a whole file (see mapped_file.h).
#include "framework/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kernels/common/error.h"

namespace tandem::io {

MappedFile map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error("cannot open " + path + ": " + std::strerror(errno), "check the path");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + " is not a regular file");
  }
  MappedFile out;
  out.size = size_t(st.st_size);
  if (out.size == 0) {  // mmap refuses a zero length; the reader reports the file as too small
    ::close(fd);
    return out;
  }
  void* map = ::mmap(nullptr, out.size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (map == MAP_FAILED) throw Error("cannot map " + path + ": " + std::strerror(map_errno));
  out.data = static_cast<const uint8_t*>(map);
  out.owner = std::shared_ptr<void>(map, [size = out.size](void* p) { ::munmap(p, size); });
  return out;
}

Tensor mapped_tensor(const MappedFile& file, size_t offset, DType dtype, const Shape& shape) {
  const size_t nbytes = size_t(shape_numel(shape)) * element_size(dtype);
  auto storage = std::make_shared<StorageImpl>(const_cast<uint8_t*>(file.data + offset), nbytes,
                                               kCPU, file.owner);
  return Tensor(std::make_shared<TensorImpl>(storage, shape, contiguous_strides(shape), 0, dtype));
}

}  // namespace tandem::io
