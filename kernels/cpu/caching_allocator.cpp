#include "kernels/cpu/caching_allocator.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "kernels/common/error.h"
#include "kernels/common/sanitizer.h"

namespace tandem::kernels::cpu {

namespace {

// In front of every block, one alignment unit that records its class, so free() needs no lookup.
struct Header {
  uint32_t size_class;
};
static_assert(sizeof(Header) <= CpuCachingAllocator::kAlignment);

void* user_pointer(void* block) {
  return static_cast<char*>(block) + CpuCachingAllocator::kAlignment;
}
Header* header_of(void* ptr) {
  return reinterpret_cast<Header*>(static_cast<char*>(ptr) - CpuCachingAllocator::kAlignment);
}

size_t default_limit() {
  if (const char* env = std::getenv("TANDEM_CPU_CACHE_MIB")) {
    char* end = nullptr;
    const unsigned long long mib = std::strtoull(env, &end, 10);
    if (end == env || *end != '\0')
      throw Error(std::string("TANDEM_CPU_CACHE_MIB must be a number of MiB, not '") + env + "'");
    return size_t(mib) << 20;
  }
  return kAddressSanitizer ? 0 : size_t(2) << 30;
}

}  // namespace

size_t CpuCachingAllocator::size_class(size_t nbytes) {
  if (nbytes <= 512) return nbytes == 0 ? 0 : (nbytes - 1) / 64;
  const int k = 63 - __builtin_clzll(uint64_t(nbytes - 1));  // 2^k < nbytes <= 2^(k+1), k >= 9
  const size_t step = size_t(1) << (k - 2);                  // a quarter of 2^k
  const size_t quarters = (nbytes + step - 1) / step;        // 5..8
  return 8 + size_t(k - 9) * 4 + (quarters - 5);
}

size_t CpuCachingAllocator::class_bytes(size_t size_class) {
  if (size_class < 8) return (size_class + 1) * 64;
  const size_t k = 9 + (size_class - 8) / 4, quarters = 5 + (size_class - 8) % 4;
  return quarters << (k - 2);
}

CpuCachingAllocator::CpuCachingAllocator(size_t limit_bytes) : limit_(limit_bytes) {}

CpuCachingAllocator::~CpuCachingAllocator() { empty_cache(); }

void* CpuCachingAllocator::system_allocate(size_t cls) {
  void* block = std::aligned_alloc(kAlignment, kAlignment + class_bytes(cls));
  if (!block) return nullptr;
  static_cast<Header*>(block)->size_class = uint32_t(cls);
  ++stats_.system_allocations;
  return user_pointer(block);
}

void CpuCachingAllocator::release(void* ptr) {
  std::free(header_of(ptr));
  ++stats_.system_frees;
}

void* CpuCachingAllocator::allocate(size_t nbytes) {
  // Far above any memory, and below where a class's size would overflow size_t.
  TANDEM_CHECK(nbytes <= (size_t(1) << 60), "cannot allocate ", nbytes, " bytes on the CPU");
  const size_t cls = size_class(nbytes);
  const size_t size = class_bytes(cls);
  std::lock_guard<std::mutex> lock(mutex_);
  void* ptr = nullptr;
  if (!free_[cls].empty()) {
    ptr = free_[cls].back();
    free_[cls].pop_back();
    stats_.cached_bytes -= size;
  } else if (!(ptr = system_allocate(cls))) {
    trim_to(0);  // out of memory: give the cache back and try once more
    ptr = system_allocate(cls);
    if (!ptr)
      throw Error("out of memory allocating " + std::to_string(nbytes) + " bytes on the CPU (" +
                  std::to_string(stats_.allocated_bytes) + " bytes held by tensors)");
  }
  stats_.allocated_bytes += size;
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  return ptr;
}

void CpuCachingAllocator::free(void* ptr) {
  if (!ptr) return;
  const size_t cls = header_of(ptr)->size_class, size = class_bytes(cls);
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.allocated_bytes -= size;
  if (stats_.cached_bytes + size > limit_) {
    release(ptr);
    return;
  }
  free_[cls].push_back(ptr);  // may grow the list once; its capacity stays
  stats_.cached_bytes += size;
}

void CpuCachingAllocator::trim_to(size_t bytes) {
  // Largest classes first: they hold most of the bytes.
  for (size_t cls = kClasses; cls-- > 0 && stats_.cached_bytes > bytes;) {
    auto& list = free_[cls];
    while (!list.empty() && stats_.cached_bytes > bytes) {
      release(list.back());
      list.pop_back();
      stats_.cached_bytes -= class_bytes(cls);
    }
  }
}

void CpuCachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  trim_to(0);
}

void CpuCachingAllocator::set_limit(size_t limit_bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  limit_ = limit_bytes;
  trim_to(limit_);
}

size_t CpuCachingAllocator::limit() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return limit_;
}

CpuAllocatorStats CpuCachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

CpuCachingAllocator& cpu_allocator() {
  // Never destroyed: tensors in other static objects may be freed after it would have been.
  static auto* allocator = new CpuCachingAllocator(default_limit());
  return *allocator;
}

}  // namespace tandem::kernels::cpu
