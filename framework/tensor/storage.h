// Storage: one reference-counted block of memory on a device. Tensors are views into a storage
// (sizes, strides, offset), so views and the tensors rebuilt from one PyTorch storage share it.
// The storage also carries the version counter that autograd uses to detect in-place changes
// of saved tensors: every view of the memory sees the same count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernels/common/device.h"

namespace tandem {

class StorageImpl {
 public:
  // Allocates nbytes on `device` from its caching allocator (64-byte aligned on the CPU).
  StorageImpl(size_t nbytes, Device device);
  // Wraps memory owned elsewhere (e.g. a memory-mapped file); `owner` keeps it alive.
  // pinned: page-locked host memory (CUDA can copy it asynchronously, without staging).
  StorageImpl(void* data, size_t nbytes, Device device, std::shared_ptr<void> owner,
              bool pinned = false);
  ~StorageImpl();
  StorageImpl(const StorageImpl&) = delete;
  StorageImpl& operator=(const StorageImpl&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool is_pinned() const { return pinned_; }

  // This device memory is also used by work on `stream` (another stream than the one it was
  // allocated on, e.g. NCCL's): its reuse waits for that work, as torch's record_stream.
  void record_stream(void* stream) const;

  uint32_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  std::shared_ptr<void> owner_;  // memory owned elsewhere: frees it when the last reference goes
  bool allocated_ = false;       // from the device's caching allocator: the destructor frees it
  uint32_t version_ = 0;
  bool pinned_ = false;
};

using Storage = std::shared_ptr<StorageImpl>;

}  // namespace tandem
