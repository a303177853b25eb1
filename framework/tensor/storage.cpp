// Storage allocation: on the CPU, a 64-byte aligned block of the CPU caching allocator
// (kernels/cpu/caching_allocator.h); on a CUDA device, a block of the device caching allocator
// (kernels/device/caching_allocator.h) on the device's current stream. The storage returns its
// block itself when it is destroyed: no shared owner (one allocation less per tensor).
#include "framework/tensor/storage.h"

#include "kernels/cpu/caching_allocator.h"
#include "kernels/device/caching_allocator.h"
#include "kernels/device/context.h"

namespace tandem {

StorageImpl::StorageImpl(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.is_cpu()) {
    data_ = kernels::cpu::cpu_allocator().allocate(nbytes);
  } else {
    namespace dev = kernels::device;
    dev::check_device(device.index);
    data_ =
        dev::device_allocator().allocate(nbytes, device.index, dev::current_stream(device.index));
  }
  allocated_ = true;
}

StorageImpl::~StorageImpl() {
  if (!allocated_) return;  // owner_ frees memory owned elsewhere
  if (device_.is_cpu())
    kernels::cpu::cpu_allocator().free(data_);
  else
    kernels::device::device_allocator().free(data_);
}

StorageImpl::StorageImpl(void* data, size_t nbytes, Device device, std::shared_ptr<void> owner,
                         bool pinned)
    : data_(data), nbytes_(nbytes), device_(device), owner_(std::move(owner)), pinned_(pinned) {}

void StorageImpl::record_stream(void* stream) const {
  if (device_.is_cuda()) kernels::device::device_allocator().record_stream(data_, stream);
}

}  // namespace tandem
