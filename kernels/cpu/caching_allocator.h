// CpuCachingAllocator: host memory for CPU tensors without a malloc per tensor. A training step
// frees and reallocates the same activations and gradients every iteration; this keeps the freed
// blocks and hands them back out, so a steady-state step makes no system allocation for its
// tensors (tests/test_step_allocations.cpp counts them).
//
//   - Requests round up to a size class: multiples of 64 bytes up to 512 bytes, then four
//     classes per power of two (at most 25% slack, as jemalloc's). A freed block is kept on its
//     class's free list and reused only for that class: no splitting, so no fragmentation.
//   - Blocks are 64-byte aligned (cache lines, AVX-512 loads, safetensors' alignment).
//   - The cache keeps at most `limit` free bytes (default 2 GiB, TANDEM_CPU_CACHE_MIB); a block
//     freed beyond it goes back to the system. When the system is out of memory, the cache is
//     returned and the allocation retried once.
//   - The bookkeeping allocates nothing in the steady state: a block's class sits in a header in
//     front of it, and each free list is a vector whose capacity stays.
//   - TANDEM_CPU_CACHE_MIB=0 turns caching off (every free returns the memory), so that valgrind
//     or a sanitizer sees every use after free; builds with AddressSanitizer start with it off.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace tandem::kernels::cpu {

struct CpuAllocatorStats {
  size_t allocated_bytes = 0;  // held by live blocks (class sizes)
  size_t cached_bytes = 0;     // free blocks kept for reuse
  size_t peak_allocated_bytes = 0;
  int64_t system_allocations = 0;  // cache misses: blocks taken from the system
  int64_t system_frees = 0;        // blocks given back (over the limit, empty_cache)
};

class CpuCachingAllocator {
 public:
  explicit CpuCachingAllocator(size_t limit_bytes);
  ~CpuCachingAllocator();  // returns the cache; live blocks are left alone
  CpuCachingAllocator(const CpuCachingAllocator&) = delete;
  CpuCachingAllocator& operator=(const CpuCachingAllocator&) = delete;

  void* allocate(size_t nbytes);  // 64-byte aligned; a zero-byte request gets the smallest class
  void free(void* ptr);           // a pointer from allocate() of this allocator
  void empty_cache();             // every free block back to the system
  void set_limit(size_t limit_bytes);  // also trims the cache down to the new limit

  size_t limit() const;
  CpuAllocatorStats stats() const;

  // The size class of a request and its capacity in bytes (pure; tested on their own).
  static size_t size_class(size_t nbytes);
  static size_t class_bytes(size_t size_class);

  static constexpr size_t kAlignment = 64;

 private:
  static constexpr size_t kClasses = 8 + (64 - 9) * 4;
  void* system_allocate(size_t cls);  // null when the system has no memory
  void release(void* ptr);            // to the system (mutex_ held)
  void trim_to(size_t bytes);         // releases free blocks until at most `bytes` stay cached

  mutable std::mutex mutex_;
  size_t limit_;
  std::array<std::vector<void*>, kClasses> free_;  // user pointers, per class
  CpuAllocatorStats stats_;
};

// The process-wide allocator for CPU tensors' storage.
CpuCachingAllocator& cpu_allocator();

}  // namespace tandem::kernels::cpu
