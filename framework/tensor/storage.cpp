// Storage allocation: 64-byte aligned host memory on the CPU; on a CUDA device, a block of the
// caching allocator (kernels/device/caching_allocator.h) on the device's current stream.
#include "framework/tensor/storage.h"

#include <cstdlib>
#include <new>

#include "kernels/common/error.h"
#include "kernels/device/caching_allocator.h"
#include "kernels/device/context.h"

namespace tandem {

namespace {
constexpr size_t kAlignment = 64;  // cache line and AVX-512 friendly; also safetensors-friendly
}

StorageImpl::StorageImpl(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.is_cpu()) {
    const size_t n = nbytes == 0 ? kAlignment : (nbytes + kAlignment - 1) / kAlignment * kAlignment;
    data_ = std::aligned_alloc(kAlignment, n);
    if (!data_)
      throw Error("out of memory allocating " + std::to_string(nbytes) + " bytes on the CPU");
    owner_ = std::shared_ptr<void>(data_, [](void* p) { std::free(p); });
  } else {
    namespace dev = kernels::device;
    dev::check_device(device.index);
    data_ =
        dev::device_allocator().allocate(nbytes, device.index, dev::current_stream(device.index));
    owner_ = std::shared_ptr<void>(data_, [](void* p) { dev::device_allocator().free(p); });
  }
}

StorageImpl::StorageImpl(void* data, size_t nbytes, Device device, std::shared_ptr<void> owner,
                         bool pinned)
    : data_(data), nbytes_(nbytes), device_(device), owner_(std::move(owner)), pinned_(pinned) {}

void StorageImpl::record_stream(void* stream) const {
  if (device_.is_cuda()) kernels::device::device_allocator().record_stream(data_, stream);
}

}  // namespace tandem
