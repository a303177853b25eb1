// The pinned host-memory cache (kernels/device/host_allocator.h) against a fake device
// (tests/fake_runtime.h): power-of-two size classes, reuse without a new page-locked allocation,
// no reuse while an asynchronous copy recorded with record_use may still read the buffer,
// empty_cache, the count of page-locked allocations, and misuse.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "kernels/device/host_allocator.h"
#include "tests/error_text.h"
#include "tests/fake_runtime.h"

using namespace tandem;
using kernels::device::PinnedHostAllocator;
using kernels::device::StreamHandle;
using tandem::testing::error_text;
using tandem::testing::FakeRuntime;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

struct PinnedHostAllocatorTest : ::testing::Test {
  FakeRuntime rt{2};
  PinnedHostAllocator alloc{rt};
  StreamHandle s0 = rt.create_stream(0), s1 = rt.create_stream(1);
};

}  // namespace

TEST_F(PinnedHostAllocatorTest, SizesRoundUpToPowersOfTwo) {
  for (const auto& [request, size_class] : {std::pair<size_t, size_t>{0, 64},
                                            {1, 64},
                                            {64, 64},
                                            {65, 128},
                                            {1000, 1024},
                                            {4096, 4096},
                                            {4097, 8192},
                                            {(size_t(3) << 20) + 1, size_t(4) << 20}}) {
    SCOPED_TRACE(request);
    PinnedHostAllocator fresh(rt);
    void* p = fresh.allocate(request);
    EXPECT_EQ(rt.last_host_malloc_size(), size_class);
    fresh.free(p);
    EXPECT_EQ(fresh.cached_bytes(), size_class);
  }
}

TEST_F(PinnedHostAllocatorTest, AFreedBufferIsReusedForItsSizeClass) {
  void* p = alloc.allocate(1000);
  alloc.free(p);
  EXPECT_EQ(alloc.cached_bytes(), 1024u);
  EXPECT_EQ(alloc.allocate(600), p);  // same class (1024): no new page-locked allocation
  EXPECT_EQ(alloc.host_mallocs(), 1);
  EXPECT_EQ(alloc.cached_bytes(), 0u);
  alloc.free(p);
  void* q = alloc.allocate(1500);  // 2048: another class
  void* r = alloc.allocate(100);   // 128: another class
  EXPECT_NE(q, p);
  EXPECT_NE(r, p);
  EXPECT_EQ(alloc.host_mallocs(), 3);
  EXPECT_EQ(rt.counts().host_mallocs, 3);
  EXPECT_EQ(alloc.cached_bytes(), 1024u);
  alloc.free(q);
  alloc.free(r);
}

TEST_F(PinnedHostAllocatorTest, ABufferIsNotReusedBeforeItsRecordedUseCompletes) {
  void* p = alloc.allocate(4096);
  alloc.record_use(p, s0, 0);  // an asynchronous copy on s0 reads p
  EXPECT_EQ(rt.counts().records, 1);
  alloc.free(p);
  void* q = alloc.allocate(4096);
  EXPECT_NE(q, p);  // s0 may still read p
  EXPECT_EQ(alloc.host_mallocs(), 2);
  rt.complete(s0);
  void* r = alloc.allocate(4096);
  EXPECT_EQ(r, p);
  EXPECT_EQ(alloc.host_mallocs(), 2);
  EXPECT_EQ(rt.counts().events_destroyed, 1);  // the completed use's event is gone
  alloc.free(q);
  alloc.free(r);
}

TEST_F(PinnedHostAllocatorTest, EveryRecordedUseMustComplete) {
  void* p = alloc.allocate(4096);
  alloc.record_use(p, s0, 0);
  alloc.record_use(p, s1, 1);  // another device's stream
  alloc.free(p);
  rt.complete(s1);
  void* q = alloc.allocate(4096);
  EXPECT_NE(q, p);
  rt.complete(s0);
  void* r = alloc.allocate(4096);
  EXPECT_EQ(r, p);
  EXPECT_EQ(rt.counts().events_destroyed, 2);  // each on its own device (the fake checks)
  EXPECT_EQ(rt.live_events(), 0u);
  alloc.free(q);
  alloc.free(r);
}

TEST_F(PinnedHostAllocatorTest, OnlyTheBuffersInUseWait) {
  void* busy = alloc.allocate(4096);
  void* idle = alloc.allocate(4096);
  alloc.record_use(busy, s0, 0);
  alloc.free(busy);
  alloc.free(idle);
  EXPECT_EQ(alloc.allocate(4096), idle);
  EXPECT_EQ(alloc.host_mallocs(), 2);
  alloc.free(idle);
}

// A buffer that stays live and is copied every step (a reused batch) keeps only the events of
// copies still in flight, not one per copy ever made.
TEST_F(PinnedHostAllocatorTest, ALiveBufferCopiedRepeatedlyKeepsOnlyPendingEvents) {
  void* p = alloc.allocate(4096);
  for (int i = 0; i < 100; ++i) {
    alloc.record_use(p, s0, 0);
    rt.complete(s0);
  }
  EXPECT_LE(rt.live_events(), 1u);
  alloc.record_use(p, s1, 1);  // in flight
  alloc.record_use(p, s0, 0);  // in flight
  EXPECT_EQ(rt.live_events(), 2u);
  alloc.free(p);
  rt.complete(s0);
  EXPECT_NE(alloc.allocate(4096), p);  // s1's copy is still in flight
  rt.complete(s1);
  EXPECT_EQ(alloc.allocate(4096), p);
  EXPECT_EQ(rt.live_events(), 0u);
}

TEST_F(PinnedHostAllocatorTest, RecordUseOfMemoryItDidNotAllocateIsIgnored) {
  int pageable = 0;
  alloc.record_use(&pageable, s0, 0);  // pageable memory is staged by the runtime
  EXPECT_EQ(rt.counts().events_created, 0);
  void* p = alloc.allocate(64);
  alloc.free(p);
  alloc.record_use(p, s0, 0);  // freed: no longer this cache's to guard
  EXPECT_EQ(rt.counts().events_created, 0);
}

TEST_F(PinnedHostAllocatorTest, EmptyCacheFreesOnlyCachedBuffersAfterTheirUses) {
  void* live = alloc.allocate(100);
  void* a = alloc.allocate(1000);
  void* b = alloc.allocate(5000);
  alloc.record_use(b, s0, 0);
  alloc.free(a);
  alloc.free(b);
  EXPECT_EQ(alloc.cached_bytes(), 1024u + 8192u);
  alloc.empty_cache();
  EXPECT_EQ(alloc.cached_bytes(), 0u);
  EXPECT_EQ(rt.counts().host_frees, 2);
  EXPECT_EQ(rt.counts().event_syncs, 1);  // it waited for b's copy
  EXPECT_EQ(rt.live_events(), 0u);
  EXPECT_EQ(rt.live_host_buffers(), 1u);  // `live` is untouched
  alloc.free(live);
  void* again = alloc.allocate(1000);  // the cache starts over
  EXPECT_EQ(alloc.host_mallocs(), 4);
  alloc.free(again);
}

TEST(PinnedHostAllocatorLifetime, DestructorReturnsCachedBuffers) {
  FakeRuntime rt;
  StreamHandle s = rt.create_stream(0);
  {
    PinnedHostAllocator alloc(rt);
    void* p = alloc.allocate(100);
    void* q = alloc.allocate(100);
    alloc.record_use(q, s, 0);
    alloc.free(p);
    alloc.free(q);
  }
  EXPECT_EQ(rt.live_host_buffers(), 0u);
  EXPECT_EQ(rt.live_events(), 0u);
}

TEST_F(PinnedHostAllocatorTest, Misuse) {
  int local = 0;
  EXPECT_TRUE(contains(error_text([&] { alloc.free(&local); }), "which it did not allocate"));
  void* p = alloc.allocate(100);
  alloc.free(p);
  EXPECT_TRUE(contains(error_text([&] { alloc.free(p); }), "which it did not allocate"));
  alloc.free(nullptr);
  EXPECT_TRUE(contains(error_text([&] { alloc.allocate(SIZE_MAX); }),
                       "cannot allocate 18446744073709551615 bytes of page-locked memory"));
  EXPECT_EQ(alloc.host_mallocs(), 1);
  void* big = alloc.allocate(size_t(1) << 63);  // the largest size class still works
  EXPECT_EQ(rt.last_host_malloc_size(), size_t(1) << 63);
  alloc.free(big);
}
