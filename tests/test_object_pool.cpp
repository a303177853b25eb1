// The object pool hands a freed block of a size class back to the next request of that class on
// the same thread, keeps blocks freed on another thread, and lets threads exit with their caches
// (and objects freed after their cache is gone) without leaking or touching freed memory.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "framework/core/object_pool.h"
#include "kernels/common/sanitizer.h"

namespace {

using tandem::pool_allocate;
using tandem::pool_free;

TEST(ObjectPool, ReusesAFreedBlockOfTheSameSizeClass) {
  if (tandem::kAddressSanitizer) GTEST_SKIP() << "the pool is off under AddressSanitizer";
  void* a = pool_allocate(40);
  std::memset(a, 0xab, 40);
  pool_free(a, 40);
  void* b = pool_allocate(48);  // 33-48 bytes share a class
  EXPECT_EQ(a, b);
  std::memset(b, 0xcd, 48);  // the whole class size is usable
  pool_free(b, 48);
  void* c = pool_allocate(64);  // another class
  EXPECT_NE(c, a);
  pool_free(c, 64);
}

TEST(ObjectPool, LargeBlocksComeFromTheSystem) {
  void* big = pool_allocate(4096);
  std::memset(big, 1, 4096);
  pool_free(big, 4096);
  pool_free(nullptr, 16);  // a no-op, as delete of null
}

TEST(ObjectPool, BlocksCrossThreadsAndOutliveTheirThread) {
  std::vector<void*> made;
  std::thread producer([&] {
    for (int i = 0; i < 1000; ++i) made.push_back(pool_allocate(24));
    void* cached = pool_allocate(24);
    pool_free(cached, 24);  // stays in the producer's cache until it exits
  });
  producer.join();
  for (void* p : made) pool_free(p, 24);  // freed here: they join this thread's cache
  std::vector<void*> again;
  for (int i = 0; i < 1000; ++i) again.push_back(pool_allocate(24));
  for (void* p : again) pool_free(p, 24);
}

TEST(ObjectPool, AllocatesSharedObjects) {
  struct Payload {
    int values[20];
  };
  auto p = std::allocate_shared<Payload>(tandem::PoolAllocator<Payload>());
  p->values[19] = 7;
  std::weak_ptr<Payload> weak = p;
  p.reset();
  EXPECT_TRUE(weak.expired());
}

}  // namespace
