#include "framework/core/object_pool.h"

#include <cstdint>

#include "kernels/common/sanitizer.h"

namespace tandem {
namespace {

constexpr bool kPooling = !kAddressSanitizer;

constexpr size_t kGranule = 16;
constexpr size_t kMaxPooledBytes = 512;
constexpr size_t kClasses = kMaxPooledBytes / kGranule;
constexpr uint32_t kMaxCachedPerClass = 4096;  // a class holds at most 2 MiB

struct FreeBlock {
  FreeBlock* next;
};

// Trivially destructible, so it stays usable while other thread-local objects are destroyed;
// the reaper below empties it first and marks the thread as exiting.
struct FreeList {
  FreeBlock* head;
  uint32_t count;
};
thread_local FreeList lists[kClasses];
thread_local bool exiting = false;

struct Reaper {
  bool armed = false;  // set by the thread's first use, which constructs the reaper
  ~Reaper() {
    exiting = true;
    for (FreeList& list : lists) {
      while (FreeBlock* block = list.head) {
        list.head = block->next;
        ::operator delete(block);
      }
      list.count = 0;
    }
  }
};
thread_local Reaper reaper;

size_t class_of(size_t bytes) { return (bytes + kGranule - 1) / kGranule - 1; }

}  // namespace

void* pool_allocate(size_t bytes) {
  if (!kPooling || bytes == 0 || bytes > kMaxPooledBytes) return ::operator new(bytes);
  // Always the class's full size: the block may join a list of its class when freed.
  const size_t c = class_of(bytes);
  if (exiting) return ::operator new((c + 1) * kGranule);
  FreeList& list = lists[c];
  if (FreeBlock* block = list.head) {
    list.head = block->next;
    --list.count;
    return block;
  }
  reaper.armed = true;  // constructs this thread's reaper, so its cache is freed at thread exit
  return ::operator new((c + 1) * kGranule);
}

void pool_free(void* block, size_t bytes) noexcept {
  if (!block) return;
  if (!kPooling || bytes == 0 || bytes > kMaxPooledBytes || exiting) {
    ::operator delete(block);
    return;
  }
  FreeList& list = lists[class_of(bytes)];
  if (list.count >= kMaxCachedPerClass) {
    ::operator delete(block);
    return;
  }
  if (list.count == 0) reaper.armed = true;  // a thread that only frees empties its cache too
  list.head = new (block) FreeBlock{list.head};
  ++list.count;
}

}  // namespace tandem
