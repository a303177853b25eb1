// A per-thread cache of small blocks for the objects every op makes and drops: tensors' and
// storages' bookkeeping (allocate_shared), autograd nodes, their metadata and backward closures.
// Freed blocks stay on the freeing thread's list for their size class (16-byte classes up to
// 512 bytes, at most kMaxCachedPerClass each) and are handed out again, so a steady-state
// training step takes none of them from the system; the CPU caching allocator does the same for
// tensors' data (kernels/cpu/caching_allocator.h).
//
// A block may be freed on another thread than the one that took it (a loader thread's batch
// freed by the training loop): it joins that thread's list. Larger objects, a full list, an
// exiting thread and AddressSanitizer builds (whose use-after-free checks a cache would blind)
// go straight to operator new/delete.
#pragma once

#include <cstddef>
#include <new>

namespace tandem {

void* pool_allocate(size_t bytes);
void pool_free(void* block, size_t bytes) noexcept;

// A standard allocator over the pool, for std::allocate_shared and containers.
template <typename T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() noexcept = default;
  template <typename U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}  // NOLINT: rebinding is implicit
  T* allocate(size_t n) { return static_cast<T*>(pool_allocate(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { pool_free(p, n * sizeof(T)); }
  template <typename U>
  bool operator==(const PoolAllocator<U>&) const noexcept {
    return true;
  }
};

// Gives a class pool-backed operator new/delete (for objects owned by unique_ptr or new).
#define TANDEM_POOLED_NEW(Class)                                                     \
  static void* operator new(size_t bytes) { return ::tandem::pool_allocate(bytes); } \
  static void operator delete(void* p, size_t bytes) noexcept { ::tandem::pool_free(p, bytes); }

}  // namespace tandem
