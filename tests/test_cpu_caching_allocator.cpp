// The CPU caching allocator behind every CPU tensor's storage: its size classes, reuse of freed
// blocks, the cache's limit, and that tensors of a repeated computation come from the cache.
#include <gtest/gtest.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "framework/ops/ops.h"
#include "framework/tensor/factories.h"
#include "kernels/cpu/caching_allocator.h"

using tandem::kernels::cpu::CpuCachingAllocator;

TEST(CpuCachingAllocator, SizeClassesCoverEveryRequestWithAtMostAQuarterSlack) {
  EXPECT_EQ(CpuCachingAllocator::class_bytes(CpuCachingAllocator::size_class(0)), 64u);
  EXPECT_EQ(CpuCachingAllocator::class_bytes(CpuCachingAllocator::size_class(1)), 64u);
  EXPECT_EQ(CpuCachingAllocator::class_bytes(CpuCachingAllocator::size_class(65)), 128u);
  EXPECT_EQ(CpuCachingAllocator::class_bytes(CpuCachingAllocator::size_class(512)), 512u);
  EXPECT_EQ(CpuCachingAllocator::class_bytes(CpuCachingAllocator::size_class(513)), 640u);
  EXPECT_EQ(CpuCachingAllocator::class_bytes(CpuCachingAllocator::size_class(1024)), 1024u);
  EXPECT_EQ(CpuCachingAllocator::class_bytes(CpuCachingAllocator::size_class(1025)), 1280u);
  EXPECT_EQ(CpuCachingAllocator::class_bytes(CpuCachingAllocator::size_class(200704)), 229376u);
  // Classes are increasing, every request fits its class, and the slack above 512 bytes is at
  // most a quarter of the request.
  size_t previous = 0;
  for (size_t cls = 0; cls < 8 + 40 * 4; ++cls) {
    const size_t bytes = CpuCachingAllocator::class_bytes(cls);
    ASSERT_GT(bytes, previous) << cls;
    ASSERT_EQ(bytes % CpuCachingAllocator::kAlignment, 0u) << cls;
    ASSERT_EQ(CpuCachingAllocator::size_class(bytes), cls) << bytes;
    ASSERT_EQ(CpuCachingAllocator::size_class(previous + 1), cls) << previous + 1;
    if (previous >= 512) {
      ASSERT_LE(bytes - (previous + 1), (previous + 1) / 4) << cls;
    }
    previous = bytes;
  }
}

TEST(CpuCachingAllocator, FreedBlocksAreReusedForTheirClass) {
  CpuCachingAllocator a(size_t(1) << 30);
  void* p = a.allocate(1000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % CpuCachingAllocator::kAlignment, 0u);
  static_cast<char*>(p)[1023] = 1;  // the whole class is usable
  a.free(p);
  EXPECT_EQ(a.stats().cached_bytes, 1024u);
  EXPECT_EQ(a.allocate(900), p);   // same class (897..1024 bytes)
  void* other = a.allocate(2000);  // another class: a new block
  EXPECT_NE(other, p);
  EXPECT_EQ(a.stats().system_allocations, 2);
  EXPECT_EQ(a.stats().allocated_bytes, 1024u + 2048u);
  a.free(p);
  a.free(other);
  EXPECT_EQ(a.stats().allocated_bytes, 0u);
  EXPECT_EQ(a.stats().peak_allocated_bytes, 1024u + 2048u);
  a.empty_cache();
  EXPECT_EQ(a.stats().cached_bytes, 0u);
  EXPECT_EQ(a.stats().system_frees, 2);
  // A request whose class would overflow size_t is an error, not a small block.
  EXPECT_THROW(a.allocate(~size_t(0) - 8), std::exception);
}

TEST(CpuCachingAllocator, TheCacheStaysWithinItsLimit) {
  CpuCachingAllocator a(4096);
  std::vector<void*> blocks;
  for (int i = 0; i < 6; ++i) blocks.push_back(a.allocate(1024));
  for (void* p : blocks) a.free(p);
  EXPECT_EQ(a.stats().cached_bytes, 4096u);  // four kept, two returned
  EXPECT_EQ(a.stats().system_frees, 2);
  a.set_limit(1024);
  EXPECT_EQ(a.stats().cached_bytes, 1024u);
  a.set_limit(0);  // no caching at all: TANDEM_CPU_CACHE_MIB=0
  a.free(a.allocate(64));
  EXPECT_EQ(a.stats().cached_bytes, 0u);
}

TEST(CpuCachingAllocator, ThreadsShareTheCache) {
  CpuCachingAllocator a(size_t(1) << 30);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&a, t] {
      for (int i = 0; i < 2000; ++i) {
        auto* p = static_cast<int*>(a.allocate(size_t(64 + 64 * ((i + t) % 7))));
        *p = i;
        a.free(p);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(a.stats().allocated_bytes, 0u);
  EXPECT_LE(a.stats().system_allocations, 4 * 7);
}

TEST(CpuCachingAllocator, RepeatedComputationsTakeNoNewMemory) {
  using namespace tandem;
  auto& cpu = kernels::cpu::cpu_allocator();
  if (cpu.limit() == 0)
    GTEST_SKIP() << "the CPU cache is off (TANDEM_CPU_CACHE_MIB=0 or AddressSanitizer)";
  Generator gen(0);
  const Tensor x = randn({64, 300}, gen), w = randn({300, 200}, gen);
  auto step = [&] { return (mm(x, w).relu() * 2.0).sum().item<double>(); };
  const double first = step();
  const int64_t misses = cpu.stats().system_allocations;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(step(), first);
  EXPECT_EQ(cpu.stats().system_allocations, misses);
}
