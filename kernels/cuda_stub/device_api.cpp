// The CUDA device API for builds without the CUDA backend: no devices; any use explains why.
#include "kernels/cuda/device_api.h"

#include <stdexcept>

namespace tandem::kernels::cuda {
namespace {
[[noreturn]] void unavailable() {
  throw std::runtime_error(
      "tandem was built without CUDA (TANDEM_CUDA=OFF or no nvcc found); rebuild with "
      "-DTANDEM_CUDA=ON to use cuda devices");
}
}  // namespace

bool built_with_cuda() { return false; }
int device_count() { return 0; }
void* malloc_device(size_t, int) { unavailable(); }
void free_device(void*, int) {}
void* malloc_pinned(size_t) { unavailable(); }
void free_pinned(void*) {}
void copy_host_to_device(void*, const void*, size_t, int) { unavailable(); }
void copy_device_to_host(void*, const void*, size_t, int) { unavailable(); }
void copy_device_to_device(void*, const void*, size_t, int) { unavailable(); }
void synchronize(int) {}

}  // namespace tandem::kernels::cuda
