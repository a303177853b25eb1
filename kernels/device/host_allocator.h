// PinnedHostAllocator: a cache of page-locked host buffers for the DataLoader's pinned batches
// (page-locking is slow, so each batch must not pin fresh memory). Sizes round up to a power of
// two; a freed buffer is reused for a request of its size class once the asynchronous copies
// that read it (record_use) have completed, as PyTorch's CachingHostAllocator.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "kernels/device/runtime.h"

namespace tandem::kernels::device {

class PinnedHostAllocator {
 public:
  explicit PinnedHostAllocator(DeviceRuntime& runtime);
  ~PinnedHostAllocator();
  PinnedHostAllocator(const PinnedHostAllocator&) = delete;
  PinnedHostAllocator& operator=(const PinnedHostAllocator&) = delete;

  void* allocate(size_t nbytes);
  void free(void* ptr);
  // An asynchronous copy on `stream` (of `device`) reads or writes `ptr`: its reuse waits.
  void record_use(void* ptr, StreamHandle stream, int device);
  void empty_cache();

  int64_t host_mallocs() const;  // page-locked allocations made (cache misses)
  size_t cached_bytes() const;

 private:
  struct Buffer {
    size_t size;
    std::vector<std::pair<EventHandle, int>> events;  // (event, device) of recorded uses
  };
  bool ready(Buffer& b);  // destroys the events of completed uses; true when none is left

  DeviceRuntime& runtime_;
  mutable std::mutex mutex_;
  std::unordered_map<void*, Buffer> live_;
  std::multimap<size_t, std::pair<void*, Buffer>> free_;  // by size class
  int64_t host_mallocs_ = 0;
};

// The process-wide pinned-memory cache over cuda_runtime().
PinnedHostAllocator& pinned_host_allocator();

}  // namespace tandem::kernels::device
