// The pinned host-memory cache (see host_allocator.h).
#include "kernels/device/host_allocator.h"

#include <algorithm>
#include <bit>
#include <limits>

#include "kernels/common/error.h"

namespace tandem::kernels::device {

PinnedHostAllocator::PinnedHostAllocator(DeviceRuntime& runtime) : runtime_(runtime) {}

PinnedHostAllocator::~PinnedHostAllocator() {
  try {
    empty_cache();
  } catch (...) {
  }
}

bool PinnedHostAllocator::ready(Buffer& b) {
  std::erase_if(b.events, [&](const std::pair<EventHandle, int>& e) {
    if (!runtime_.event_done(e.first)) return false;
    runtime_.destroy_event(e.first, e.second);
    return true;
  });
  return b.events.empty();
}

void* PinnedHostAllocator::allocate(size_t nbytes) {
  // bit_ceil of a size above the largest power of two is undefined.
  constexpr size_t kMaxSize = size_t(1) << (std::numeric_limits<size_t>::digits - 1);
  TANDEM_CHECK(nbytes <= kMaxSize, "pinned host allocator: cannot allocate ", nbytes,
               " bytes of page-locked memory");
  const size_t size = std::bit_ceil(std::max<size_t>(nbytes, 64));
  std::lock_guard<std::mutex> lock(mutex_);
  auto [first, last] = free_.equal_range(size);
  for (auto it = first; it != last; ++it) {
    if (!ready(it->second.second)) continue;
    void* p = it->second.first;
    live_.emplace(p, std::move(it->second.second));
    free_.erase(it);
    return p;
  }
  void* p = runtime_.malloc_host(size);
  ++host_mallocs_;
  live_.emplace(p, Buffer{size, {}});
  return p;
}

void PinnedHostAllocator::free(void* ptr) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(ptr);
  TANDEM_CHECK(it != live_.end(), "pinned host allocator: free of ", ptr,
               ", which it did not allocate");
  const size_t size = it->second.size;
  free_.emplace(size, std::make_pair(ptr, std::move(it->second)));
  live_.erase(it);
}

void PinnedHostAllocator::record_use(void* ptr, StreamHandle stream, int device) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(ptr);
  if (it == live_.end()) return;  // not pinned by this cache (e.g. pageable memory)
  // A buffer copied again and again while live (never freed) would collect an event per copy.
  ready(it->second);
  EventHandle e = runtime_.create_event(device);
  runtime_.record_event(e, stream);
  it->second.events.emplace_back(e, device);
}

void PinnedHostAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [size, entry] : free_) {
    for (auto& [e, device] : entry.second.events) {
      runtime_.synchronize_event(e);
      runtime_.destroy_event(e, device);
    }
    runtime_.free_host(entry.first);
  }
  free_.clear();
}

int64_t PinnedHostAllocator::host_mallocs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return host_mallocs_;
}

size_t PinnedHostAllocator::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t n = 0;
  for (const auto& [size, entry] : free_) n += size;
  return n;
}

PinnedHostAllocator& pinned_host_allocator() {
  static PinnedHostAllocator* allocator = new PinnedHostAllocator(cuda_runtime());
  return *allocator;
}

}  // namespace tandem::kernels::device
