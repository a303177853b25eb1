// Storage allocation: 64-byte aligned host memory on the CPU, cudaMalloc through the CUDA
// device API on a GPU.
#include "framework/tensor/storage.h"

#include <cstdlib>
#include <new>

#include "framework/core/error.h"
#include "kernels/cuda/device_api.h"

namespace tandem {

namespace {
constexpr size_t kAlignment = 64;  // cache line and AVX-512 friendly; also safetensors-friendly
}

StorageImpl::StorageImpl(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  const size_t n = nbytes == 0 ? kAlignment : (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  if (device.is_cpu()) {
    data_ = std::aligned_alloc(kAlignment, n);
    if (!data_)
      throw Error("out of memory allocating " + std::to_string(nbytes) + " bytes on the CPU");
    owner_ = std::shared_ptr<void>(data_, [](void* p) { std::free(p); });
  } else {
    const int index = device.index;
    data_ = kernels::cuda::malloc_device(n, index);
    owner_ =
        std::shared_ptr<void>(data_, [index](void* p) { kernels::cuda::free_device(p, index); });
  }
}

StorageImpl::StorageImpl(void* data, size_t nbytes, Device device, std::shared_ptr<void> owner,
                         bool pinned)
    : data_(data), nbytes_(nbytes), device_(device), owner_(std::move(owner)), pinned_(pinned) {}

}  // namespace tandem
