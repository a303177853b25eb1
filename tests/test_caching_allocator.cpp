// The caching device allocator's bookkeeping (kernels/device/caching_allocator.h) against a fake
// device (tests/fake_runtime.h): size rounding and segment sizes, reuse, split and merge, a pool
// per stream, record_stream's deferred reuse, out-of-memory retry and error, empty_cache,
// statistics, misuse errors, and a seeded random stress test that checks the allocator's
// invariants after every step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/device/caching_allocator.h"
#include "tests/error_text.h"
#include "tests/fake_runtime.h"

using namespace tandem;
using kernels::device::AllocatorStats;
using kernels::device::CachingAllocator;
using kernels::device::SegmentInfo;
using kernels::device::StreamHandle;
using tandem::testing::error_text;
using tandem::testing::FakeRuntime;

namespace {

constexpr size_t KiB = size_t(1) << 10;
constexpr size_t MiB = size_t(1) << 20;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

char* bytes(void* p) { return static_cast<char*>(p); }

// An allocator over a two-device fake with one stream `a` and another `b` on device 0.
struct Fixture : ::testing::Test {
  FakeRuntime rt{2, size_t(1) << 30};
  CachingAllocator alloc{rt};
  StreamHandle a = rt.create_stream(0), b = rt.create_stream(0);
  AllocatorStats stats(int device = 0) const { return alloc.stats(device); }
};

using CachingAllocatorTest = Fixture;

}  // namespace

// --- sizes -------------------------------------------------------------------------------------

TEST(CachingAllocatorSizes, RoundsTo512Bytes) {
  EXPECT_EQ(CachingAllocator::round_size(0), 512u);
  EXPECT_EQ(CachingAllocator::round_size(1), 512u);
  EXPECT_EQ(CachingAllocator::round_size(512), 512u);
  EXPECT_EQ(CachingAllocator::round_size(513), 1024u);
  EXPECT_EQ(CachingAllocator::round_size(1000), 1024u);
  EXPECT_EQ(CachingAllocator::round_size(MiB - 1), MiB);
  EXPECT_EQ(CachingAllocator::round_size(MiB + 1), MiB + 512);
}

TEST(CachingAllocatorSizes, SegmentSizes) {
  // Up to 1 MiB: 2 MiB segments (the small pool).
  EXPECT_EQ(CachingAllocator::segment_size(512), 2 * MiB);
  EXPECT_EQ(CachingAllocator::segment_size(MiB), 2 * MiB);
  // Above 1 MiB and under 10 MiB: 20 MiB segments.
  EXPECT_EQ(CachingAllocator::segment_size(MiB + 512), 20 * MiB);
  EXPECT_EQ(CachingAllocator::segment_size(10 * MiB - 512), 20 * MiB);
  // 10 MiB and more: a segment of its own, rounded up to 2 MiB.
  EXPECT_EQ(CachingAllocator::segment_size(10 * MiB), 10 * MiB);
  EXPECT_EQ(CachingAllocator::segment_size(10 * MiB + 512), 12 * MiB);
  EXPECT_EQ(CachingAllocator::segment_size(33 * MiB), 34 * MiB);
  EXPECT_EQ(CachingAllocator::segment_size(34 * MiB), 34 * MiB);
}

TEST_F(CachingAllocatorTest, AllocationsTakeSegmentsOfTheRightSize) {
  struct Case {
    size_t request, rounded, segment;
  };
  for (const Case c : {Case{0, 512, 2 * MiB}, Case{1000, 1024, 2 * MiB}, Case{MiB, MiB, 2 * MiB},
                       Case{3 * MiB + 5, 3 * MiB + 512, 20 * MiB},
                       Case{11 * MiB, 11 * MiB, 12 * MiB}, Case{100 * MiB, 100 * MiB, 100 * MiB}}) {
    SCOPED_TRACE(c.request);
    FakeRuntime fresh;
    CachingAllocator al(fresh);
    void* p = al.allocate(c.request, 0, a);
    EXPECT_EQ(fresh.counts().mallocs, 1);
    EXPECT_EQ(fresh.last_malloc_size(), c.segment);
    EXPECT_EQ(al.stats(0).allocated_bytes, c.rounded);
    EXPECT_EQ(al.stats(0).reserved_bytes, c.segment);
    al.free(p);
  }
}

// --- reuse, split and merge ---------------------------------------------------------------------

TEST_F(CachingAllocatorTest, FreedBlockIsReusedWithoutADeviceMalloc) {
  void* p = alloc.allocate(4000, 0, a);
  alloc.free(p);
  EXPECT_EQ(alloc.allocate(4000, 0, a), p);
  EXPECT_EQ(rt.counts().mallocs, 1);
  EXPECT_EQ(stats().device_mallocs, 1);
  EXPECT_EQ(stats().device_frees, 0);
}

TEST_F(CachingAllocatorTest, SmallRequestsShareASegment) {
  std::vector<void*> ps;
  for (int i = 0; i < 4; ++i) ps.push_back(alloc.allocate(512 * KiB, 0, a));
  EXPECT_EQ(rt.counts().mallocs, 1);  // 4 x 512 KiB fill one 2 MiB segment
  for (int i = 1; i < 4; ++i) EXPECT_EQ(bytes(ps[size_t(i)]) - bytes(ps[0]), i * 512 * long(KiB));
  ps.push_back(alloc.allocate(512, 0, a));
  EXPECT_EQ(rt.counts().mallocs, 2);  // full: the next request opens another segment
  EXPECT_EQ(stats().reserved_bytes, 4 * MiB);
  for (void* p : ps) alloc.free(p);
}

// Four 5 MiB blocks cut from one 20 MiB segment, freed in every order: the segment merges back
// into one free block, which a request for the whole segment reuses.
TEST_F(CachingAllocatorTest, SplitBlocksMergeBackInAnyFreeOrder) {
  std::vector<int> order = {0, 1, 2, 3};
  do {
    SCOPED_TRACE(::testing::PrintToString(order));
    FakeRuntime fresh;
    CachingAllocator al(fresh);
    std::vector<void*> ps;
    for (int i = 0; i < 4; ++i) ps.push_back(al.allocate(5 * MiB, 0, a));
    ASSERT_EQ(fresh.counts().mallocs, 1);
    for (int i : order) al.free(ps[size_t(i)]);
    EXPECT_EQ(al.stats(0).allocated_bytes, 0u);
    void* whole = al.allocate(20 * MiB, 0, a);
    EXPECT_EQ(whole, ps[0]);
    EXPECT_EQ(fresh.counts().mallocs, 1);
    al.free(whole);
  } while (std::next_permutation(order.begin(), order.end()));
}

TEST_F(CachingAllocatorTest, OnlyAdjacentFreeBlocksMerge) {
  std::vector<void*> ps;
  for (int i = 0; i < 4; ++i) ps.push_back(alloc.allocate(5 * MiB, 0, a));
  alloc.free(ps[0]);
  alloc.free(ps[2]);  // two free 5 MiB blocks, not adjacent
  void* p = alloc.allocate(10 * MiB, 0, a);
  EXPECT_EQ(rt.counts().mallocs, 2);  // no 10 MiB free block: a new segment
  alloc.free(p);
  alloc.free(ps[1]);  // 0, 1 and 2 merge into 15 MiB
  void* q = alloc.allocate(15 * MiB, 0, a);
  EXPECT_EQ(q, ps[0]);
  EXPECT_EQ(rt.counts().mallocs, 2);
  alloc.free(q);
  alloc.free(ps[3]);
}

// The small pool's segments merge too: after freeing four 512 KiB blocks, two 1 MiB requests
// (the largest the small pool serves) fit in the same segment.
TEST_F(CachingAllocatorTest, SmallPoolMerges) {
  std::vector<void*> ps;
  for (int i = 0; i < 4; ++i) ps.push_back(alloc.allocate(512 * KiB, 0, a));
  for (int i : {2, 0, 3, 1}) alloc.free(ps[size_t(i)]);
  void* x = alloc.allocate(MiB, 0, a);
  void* y = alloc.allocate(MiB, 0, a);
  EXPECT_EQ(rt.counts().mallocs, 1);
  EXPECT_EQ(x, ps[0]);
  EXPECT_EQ(y, ps[2]);
  alloc.free(x);
  alloc.free(y);
}

// Small requests never come from the large pool and large ones never from the small pool.
TEST_F(CachingAllocatorTest, SmallAndLargePoolsAreSeparate) {
  void* big = alloc.allocate(20 * MiB, 0, a);
  alloc.free(big);  // a free 20 MiB block in the large pool
  void* small = alloc.allocate(1000, 0, a);
  EXPECT_EQ(rt.counts().mallocs, 2);
  EXPECT_NE(small, big);
  alloc.free(small);
  void* medium = alloc.allocate(2 * MiB, 0, a);  // large pool: reuses the 20 MiB block
  EXPECT_EQ(medium, big);
  EXPECT_EQ(rt.counts().mallocs, 2);
  alloc.free(medium);
}

// A large block is split only when the rest is worth keeping (at least 1 MiB).
TEST_F(CachingAllocatorTest, LargeBlockKeepsASmallRemainder) {
  void* p = alloc.allocate(20 * MiB, 0, a);
  alloc.free(p);
  void* q = alloc.allocate(20 * MiB - 512 * KiB, 0, a);
  EXPECT_EQ(q, p);
  EXPECT_EQ(stats().allocated_bytes, 20 * MiB);  // the 512 KiB rest stays with the block
  alloc.free(q);
  void* r = alloc.allocate(19 * MiB, 0, a);
  EXPECT_EQ(stats().allocated_bytes, 19 * MiB);  // a 1 MiB rest is split off
  void* s = alloc.allocate(MiB + 512, 0, a);
  EXPECT_EQ(rt.counts().mallocs, 2);  // the 1 MiB rest is too small for it
  alloc.free(r);
  alloc.free(s);
}

// --- streams -----------------------------------------------------------------------------------

TEST_F(CachingAllocatorTest, ABlockFreedOnOneStreamIsNotHandedToAnother) {
  void* p = alloc.allocate(4000, 0, a);
  alloc.free(p);
  void* q = alloc.allocate(4000, 0, b);
  EXPECT_NE(q, p);
  EXPECT_EQ(rt.counts().mallocs, 2);  // b has its own pool
  EXPECT_EQ(alloc.allocate(4000, 0, a), p);
  EXPECT_EQ(rt.counts().mallocs, 2);
}

TEST_F(CachingAllocatorTest, RecordStreamDefersReuseUntilTheEventCompletes) {
  void* p = alloc.allocate(12 * MiB, 0, a);  // a segment of its own: no tail to hand out
  alloc.record_stream(p, b);
  alloc.free(p);
  EXPECT_EQ(rt.counts().records, 1);
  EXPECT_EQ(rt.record_stream_of(0), b);  // the event marks b's work at free time
  EXPECT_EQ(stats().allocated_bytes, 0u);

  void* q = alloc.allocate(12 * MiB, 0, a);
  EXPECT_NE(q, p);  // b may still use p
  EXPECT_EQ(rt.counts().mallocs, 2);

  rt.complete(b);
  void* r = alloc.allocate(12 * MiB, 0, a);
  EXPECT_EQ(r, p);  // b's work is done: back in a's pool
  EXPECT_EQ(rt.counts().mallocs, 2);

  // The event is reused for the next deferred free.
  alloc.record_stream(r, b);
  alloc.free(r);
  EXPECT_EQ(rt.counts().events_created, 1);
  EXPECT_EQ(rt.counts().records, 2);
  alloc.free(q);
}

TEST_F(CachingAllocatorTest, AFailedEventQueryReleasesNothingTwice) {
  // Two frees wait on events; the second query fails (a sticky CUDA error) after the first block
  // was released: once queries work, each block comes back exactly once.
  StreamHandle c = rt.create_stream(0);
  void* p = alloc.allocate(12 * MiB, 0, a);
  void* q = alloc.allocate(12 * MiB, 0, a);
  alloc.record_stream(p, b);
  alloc.record_stream(q, c);
  alloc.free(p);
  alloc.free(q);
  rt.complete(b);
  rt.complete(c);
  rt.fail_event_query_after(1);
  EXPECT_THROW(alloc.allocate(12 * MiB, 0, a), std::runtime_error);
  void* r = alloc.allocate(12 * MiB, 0, a);
  void* s = alloc.allocate(12 * MiB, 0, a);
  EXPECT_NE(r, s);
  EXPECT_TRUE((r == p && s == q) || (r == q && s == p));
  EXPECT_EQ(rt.counts().mallocs, 2);  // both reused, none handed out twice
  EXPECT_EQ(stats().allocated_bytes, 24 * MiB);
  alloc.free(r);
  alloc.free(s);
}

TEST_F(CachingAllocatorTest, RecordStreamWaitsForEveryStream) {
  StreamHandle c = rt.create_stream(0);
  void* p = alloc.allocate(12 * MiB, 0, a);
  alloc.record_stream(p, b);
  alloc.record_stream(p, c);
  alloc.record_stream(p, b);  // once per stream
  alloc.record_stream(p, a);  // its own stream: nothing to wait for
  alloc.free(p);
  EXPECT_EQ(rt.counts().records, 2);
  rt.complete(b);
  void* q = alloc.allocate(12 * MiB, 0, a);
  EXPECT_NE(q, p);  // c has not finished
  rt.complete(c);
  void* r = alloc.allocate(12 * MiB, 0, a);
  EXPECT_EQ(r, p);
  alloc.free(q);
  alloc.free(r);
}

TEST_F(CachingAllocatorTest, RecordStreamOnItsOwnStreamNeedsNoEvent) {
  void* p = alloc.allocate(4000, 0, a);
  alloc.record_stream(p, a);
  alloc.free(p);
  EXPECT_EQ(rt.counts().records, 0);
  EXPECT_EQ(alloc.allocate(4000, 0, a), p);
}

// A block awaiting its events does not merge with its free neighbours until they complete.
TEST_F(CachingAllocatorTest, BlockAwaitingEventsMergesAfterwards) {
  void* x = alloc.allocate(5 * MiB, 0, a);
  void* y = alloc.allocate(5 * MiB, 0, a);
  alloc.record_stream(x, b);
  alloc.free(x);
  alloc.free(y);
  void* p = alloc.allocate(20 * MiB, 0, a);
  EXPECT_EQ(rt.counts().mallocs, 2);  // x is still in use on b
  alloc.free(p);
  rt.complete(b);
  void* q = alloc.allocate(20 * MiB, 0, a);  // x, y and the rest merge into the whole segment
  EXPECT_EQ(q, x);
  EXPECT_EQ(rt.counts().mallocs, 2);
  alloc.free(q);
}

// --- out of memory -----------------------------------------------------------------------------

TEST_F(CachingAllocatorTest, OutOfMemoryReleasesTheCacheAndRetries) {
  rt.set_capacity(0, 40 * MiB);
  void* p = alloc.allocate(12 * MiB, 0, a);
  void* s = alloc.allocate(12 * MiB, 0, b);
  alloc.free(p);
  alloc.free(s);  // 24 MiB cached, on two streams
  void* q = alloc.allocate(30 * MiB, 0, a);
  EXPECT_EQ(stats().alloc_retries, 1);
  EXPECT_EQ(stats().ooms, 0);
  EXPECT_EQ(stats().device_frees, 2);  // both streams' cached segments went back
  EXPECT_EQ(stats().reserved_bytes, 30 * MiB);
  EXPECT_EQ(rt.used(0), 30 * MiB);
  alloc.free(q);
}

// Blocks other streams still use are waited for before giving up; one of them may fit in a
// segment that cannot go back to the device (another block of it is live).
TEST_F(CachingAllocatorTest, OutOfMemoryWaitsForBlocksInUseOnOtherStreams) {
  rt.set_capacity(0, 2 * MiB);
  void* keep = alloc.allocate(MiB, 0, a);
  void* x = alloc.allocate(512 * KiB, 0, a);
  alloc.record_stream(x, b);
  alloc.free(x);  // x and the free 512 KiB after it become 1 MiB once b is done
  void* p = alloc.allocate(MiB, 0, a);
  EXPECT_EQ(p, x);
  EXPECT_EQ(rt.counts().mallocs, 1);
  EXPECT_EQ(stats().alloc_retries, 1);
  EXPECT_EQ(stats().ooms, 0);
  EXPECT_GE(rt.counts().event_syncs, 1);  // it waited for b's event
  alloc.free(keep);
  alloc.free(p);
}

TEST_F(CachingAllocatorTest, OutOfMemoryErrorSaysRequestedAllocatedAndReserved) {
  rt.set_capacity(1, 64 * MiB);
  void* p = alloc.allocate(20 * MiB, 1, a);
  void* q = alloc.allocate(MiB, 1, a);
  void* r = alloc.allocate(10 * MiB, 1, a);
  alloc.free(r);  // cached, released by the retry, and still not enough
  const std::string what = error_text([&] { alloc.allocate(50 * MiB, 1, a); });
  EXPECT_TRUE(contains(what, "fake CUDA out of memory on cuda:1")) << what;
  EXPECT_TRUE(contains(what, "tried to allocate 50.0 MiB")) << what;
  EXPECT_TRUE(contains(what, "21.0 MiB allocated by tensors")) << what;
  EXPECT_TRUE(contains(what, "22.0 MiB reserved by tandem's caching allocator")) << what;
  EXPECT_TRUE(contains(what, "42.0 MiB free of 64.0 MiB")) << what;
  EXPECT_EQ(alloc.stats(1).alloc_retries, 1);
  EXPECT_EQ(alloc.stats(1).ooms, 1);
  EXPECT_EQ(alloc.stats(1).device_frees, 1);
  EXPECT_EQ(stats(0).ooms, 0);  // per device
  try {
    alloc.allocate(50 * MiB, 1, a);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.hint(), "batch_size")) << e.hint();
  }
  // The allocator is still usable after the error.
  void* s = alloc.allocate(30 * MiB, 1, a);
  EXPECT_EQ(alloc.stats(1).allocated_bytes, 51 * MiB);
  for (void* x : {p, q, s}) alloc.free(x);
}

TEST_F(CachingAllocatorTest, ImpossibleSizesAreOutOfMemoryNotWrapAround) {
  for (size_t n : {SIZE_MAX, SIZE_MAX - 511, SIZE_MAX / 2 + 1, SIZE_MAX / 2}) {
    SCOPED_TRACE(n);
    const std::string what = error_text([&] { alloc.allocate(n, 0, a); });
    EXPECT_TRUE(contains(what, "out of memory on cuda:0")) << what;
  }
  EXPECT_EQ(stats().allocations, 0);
  EXPECT_EQ(stats().allocated_bytes, 0u);
  void* p = alloc.allocate(512, 0, a);  // unaffected
  void* q = alloc.allocate(512, 0, a);
  EXPECT_NE(p, q);
  alloc.free(p);
  alloc.free(q);
}

// --- empty_cache -------------------------------------------------------------------------------

TEST_F(CachingAllocatorTest, EmptyCacheReturnsOnlyWhollyFreeSegments) {
  void* x = alloc.allocate(1000, 0, a);
  void* y = alloc.allocate(1000, 0, a);  // same 2 MiB segment as x
  void* big = alloc.allocate(12 * MiB, 0, a);
  void* other = alloc.allocate(12 * MiB, 1, a);
  alloc.free(x);
  alloc.free(big);
  alloc.free(other);
  alloc.empty_cache();
  EXPECT_EQ(stats().device_frees, 1);  // big's segment; x's is still partly in use by y
  EXPECT_EQ(stats().reserved_bytes, 2 * MiB);
  EXPECT_EQ(alloc.stats(1).reserved_bytes, 0u);
  EXPECT_EQ(rt.segments().size(), 1u);
  alloc.free(y);
  alloc.empty_cache();
  EXPECT_EQ(stats().reserved_bytes, 0u);
  EXPECT_EQ(stats().device_frees, 2);
  EXPECT_TRUE(rt.segments().empty());
  void* z = alloc.allocate(1000, 0, a);  // starts again from the device
  EXPECT_EQ(rt.counts().mallocs, 4);
  alloc.free(z);
}

TEST_F(CachingAllocatorTest, EmptyCacheWaitsForBlocksInUseOnOtherStreams) {
  void* p = alloc.allocate(12 * MiB, 0, a);
  alloc.record_stream(p, b);
  alloc.free(p);
  alloc.empty_cache();
  EXPECT_EQ(rt.counts().event_syncs, 1);
  EXPECT_EQ(stats().reserved_bytes, 0u);
  EXPECT_TRUE(rt.segments().empty());
}

TEST(CachingAllocatorLifetime, DestructorReturnsTheCacheAndEvents) {
  FakeRuntime rt;
  StreamHandle a = rt.create_stream(0), b = rt.create_stream(0);
  {
    CachingAllocator alloc(rt);
    void* p = alloc.allocate(12 * MiB, 0, a);
    void* q = alloc.allocate(1000, 1, a);
    alloc.record_stream(p, b);
    alloc.free(p);
    alloc.free(q);
  }
  EXPECT_TRUE(rt.segments().empty());
  EXPECT_EQ(rt.live_events(), 0u);
}

// --- statistics --------------------------------------------------------------------------------

TEST_F(CachingAllocatorTest, Statistics) {
  EXPECT_EQ(stats().allocated_bytes, 0u);  // a device never used
  void* p = alloc.allocate(1000, 0, a);
  void* q = alloc.allocate(3 * MiB, 0, a);
  AllocatorStats s = stats();
  EXPECT_EQ(s.allocated_bytes, 1024 + 3 * MiB);
  EXPECT_EQ(s.reserved_bytes, 22 * MiB);
  EXPECT_EQ(s.allocations, 2);
  EXPECT_EQ(s.device_mallocs, 2);
  EXPECT_EQ(s.peak_allocated_bytes, s.allocated_bytes);
  EXPECT_EQ(s.peak_reserved_bytes, 22 * MiB);
  alloc.free(q);
  s = stats();
  EXPECT_EQ(s.allocated_bytes, 1024u);
  EXPECT_EQ(s.allocations, 1);
  EXPECT_EQ(s.peak_allocated_bytes, 1024 + 3 * MiB);
  EXPECT_EQ(s.reserved_bytes, 22 * MiB);  // cached
  alloc.empty_cache();
  s = stats();
  EXPECT_EQ(s.reserved_bytes, 2 * MiB);
  EXPECT_EQ(s.peak_reserved_bytes, 22 * MiB);
  EXPECT_EQ(s.device_frees, 1);
  alloc.reset_peak_stats(0);
  s = stats();
  EXPECT_EQ(s.peak_allocated_bytes, 1024u);
  EXPECT_EQ(s.peak_reserved_bytes, 2 * MiB);
  EXPECT_EQ(s.device_mallocs, 2);  // counts are not peaks
  EXPECT_EQ(stats(1).device_mallocs, 0);
  alloc.free(p);
}

// A steady state (the same sizes every step) makes no device malloc after the first step.
TEST_F(CachingAllocatorTest, SteadyStateMakesNoDeviceMalloc) {
  const std::vector<size_t> step = {784 * 4 * 64, 256 * 4, 10 * 4 * 64, 3 * MiB, 40 * MiB, 12};
  auto run_step = [&] {
    std::vector<void*> ps;
    for (size_t n : step) ps.push_back(alloc.allocate(n, 0, a));
    for (size_t i = 0; i < ps.size(); i += 2) alloc.free(ps[i]);
    for (size_t n : step) ps.push_back(alloc.allocate(n / 2, 0, a));
    for (size_t i = 1; i < ps.size(); i += 2) alloc.free(ps[i]);
    for (size_t i = step.size(); i < ps.size(); i += 2) alloc.free(ps[i]);
  };
  run_step();
  const int64_t mallocs = stats().device_mallocs;
  for (int i = 0; i < 5; ++i) run_step();
  EXPECT_EQ(stats().device_mallocs, mallocs);
  EXPECT_EQ(stats().allocated_bytes, 0u);
}

// The trainer prints summary() once per epoch on a GPU: small sizes must not all read "0.0 MiB".
TEST_F(CachingAllocatorTest, SummaryPicksAReadableUnit) {
  EXPECT_EQ(alloc.summary(0),
            "allocated 0 B (peak 0 B), reserved 0 B (peak 0 B), 0 device mallocs");
  void* p = alloc.allocate(1, 0, a);
  EXPECT_EQ(alloc.summary(0),
            "allocated 512 B (peak 512 B), reserved 2.0 MiB (peak 2.0 MiB), 1 device malloc");
  void* q = alloc.allocate(1000, 0, a);
  EXPECT_EQ(alloc.summary(0),
            "allocated 1.5 KiB (peak 1.5 KiB), reserved 2.0 MiB (peak 2.0 MiB), 1 device malloc");
  void* r = alloc.allocate(MiB - 512, 0, a);  // 1 MiB + 1 KiB in all
  EXPECT_EQ(alloc.summary(0),
            "allocated 1.0 MiB (peak 1.0 MiB), reserved 2.0 MiB (peak 2.0 MiB), 1 device malloc");
  for (void* x : {p, q, r}) alloc.free(x);
}

TEST(CachingAllocatorSummary, LargeSizesInGiB) {
  FakeRuntime rt(1, size_t(8) << 30);
  CachingAllocator alloc(rt);
  StreamHandle s = rt.create_stream(0);
  void* p = alloc.allocate(1536 * MiB, 0, s);
  void* q = alloc.allocate(1000 * MiB + 512 * KiB, 0, s);
  alloc.free(q);
  EXPECT_EQ(alloc.summary(0),
            "allocated 1.50 GiB (peak 2.48 GiB), reserved 2.48 GiB (peak 2.48 GiB), 2 device "
            "mallocs");
  alloc.free(p);
  void* r = alloc.allocate(1023 * MiB + 1000 * KiB, 0, s);  // 1023.98 MiB: 1.00 GiB, not 1024.0 MiB
  EXPECT_TRUE(contains(alloc.summary(0), "allocated 1.00 GiB")) << alloc.summary(0);
  alloc.free(r);
}

// A small request that needs a new segment says so: "1.0 KiB" next to "1.0 MiB free" would
// read as a contradiction.
TEST_F(CachingAllocatorTest, OutOfMemoryForASmallRequestNamesTheSegment) {
  rt.set_capacity(0, MiB);
  const std::string what = error_text([&] { alloc.allocate(1000, 0, a); });
  EXPECT_TRUE(contains(what,
                       "tried to allocate 1.0 KiB (in a new 2.0 MiB segment); 0 B "
                       "allocated by tensors, 0 B reserved by tandem's caching allocator, "
                       "1.0 MiB free of 1.0 MiB"))
      << what;
}

// --- misuse ------------------------------------------------------------------------------------

TEST_F(CachingAllocatorTest, DoubleFreeAndForeignPointersAreErrors) {
  void* p = alloc.allocate(1000, 0, a);
  alloc.free(p);
  EXPECT_TRUE(contains(error_text([&] { alloc.free(p); }), "did not allocate (or freed twice)"));
  int local = 0;
  EXPECT_TRUE(contains(error_text([&] { alloc.free(&local); }), "did not allocate"));
  void* q = alloc.allocate(1000, 0, a);
  EXPECT_TRUE(contains(error_text([&] { alloc.free(bytes(q) + 512); }), "did not allocate"));
  EXPECT_TRUE(
      contains(error_text([&] { alloc.record_stream(&local, b); }), "is not a live allocation"));
  alloc.free(nullptr);  // as free(nullptr)
  EXPECT_EQ(stats().allocations, 1);
  EXPECT_EQ(stats().allocated_bytes, 1024u);
  alloc.free(q);
}

// --- memory_snapshot ---------------------------------------------------------------------------

TEST_F(CachingAllocatorTest, SnapshotShowsSegmentsAndTheirBlocks) {
  using State = kernels::device::SegmentInfo::BlockState;
  void* x = alloc.allocate(5 * MiB, 0, a);
  void* y = alloc.allocate(3 * MiB, 0, a);
  void* z = alloc.allocate(1000, 1, b);
  alloc.record_stream(y, b);
  alloc.free(y);
  const auto snap = alloc.memory_snapshot();
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_EQ(snap[0].device, 0);
  EXPECT_EQ(snap[0].stream, a);
  EXPECT_EQ(snap[0].ptr, x);
  EXPECT_EQ(snap[0].size, 20 * MiB);
  EXPECT_FALSE(snap[0].small_pool);
  ASSERT_EQ(snap[0].blocks.size(), 3u);
  EXPECT_EQ(snap[0].blocks[0].state, State::Allocated);
  EXPECT_EQ(snap[0].blocks[0].size, 5 * MiB);
  EXPECT_EQ(snap[0].blocks[1].ptr, y);
  EXPECT_EQ(snap[0].blocks[1].state, State::AwaitingEvents);
  EXPECT_EQ(snap[0].blocks[2].state, State::Cached);
  EXPECT_EQ(snap[0].blocks[2].size, 12 * MiB);
  EXPECT_EQ(snap[1].device, 1);
  EXPECT_EQ(snap[1].stream, b);
  EXPECT_TRUE(snap[1].small_pool);
  EXPECT_EQ(snap[1].blocks.size(), 2u);
  alloc.free(x);
  alloc.free(z);
}

// --- random sequences --------------------------------------------------------------------------

namespace {

using State = kernels::device::SegmentInfo::BlockState;

// What the test knows: the live allocations, and the memory other streams may still use (freed
// after record_stream, guarded by the fake runtime's records [first, last)).
struct Model {
  struct Live {
    size_t rounded;
    int device;
    StreamHandle stream;
    std::vector<StreamHandle> uses;
  };
  struct Guard {
    char* ptr;
    size_t size;
    size_t first, last;
  };
  std::map<void*, Live> live;
  std::vector<Guard> guards;
  std::set<void*> deferred;  // freed after record_stream and not handed out since
};

bool overlaps(const char* p, size_t n, const char* q, size_t m) { return p < q + m && q < p + n; }

// Checks everything the allocator promises about its state against the model and the device.
void check_invariants(const CachingAllocator& alloc, const FakeRuntime& rt, const Model& model,
                      int devices) {
  const auto snap = alloc.memory_snapshot();
  std::map<void*, const SegmentInfo::BlockInfo*> allocated;
  std::map<void*, StreamHandle> stream_of;
  for (int d = 0; d < devices; ++d) {
    SCOPED_TRACE("cuda:" + std::to_string(d));
    const AllocatorStats s = alloc.stats(d);
    size_t reserved = 0, in_blocks = 0;
    int64_t segments = 0, blocks = 0;
    for (const auto& seg : snap) {
      if (seg.device != d) continue;
      ++segments;
      reserved += seg.size;
      auto it = rt.segments().find(reinterpret_cast<uintptr_t>(seg.ptr));
      ASSERT_NE(it, rt.segments().end()) << "a segment the device did not hand out";
      EXPECT_EQ(it->second.first, seg.size);
      EXPECT_EQ(it->second.second, d);
      if (seg.small_pool) {
        EXPECT_EQ(seg.size, 2 * MiB);
      }
      // The blocks tile the segment, and no two free neighbours are left unmerged.
      const char* next = static_cast<const char*>(seg.ptr);
      for (size_t i = 0; i < seg.blocks.size(); ++i) {
        const auto& blk = seg.blocks[i];
        EXPECT_EQ(blk.ptr, next);
        EXPECT_EQ(blk.size % 512, 0u);
        EXPECT_GT(blk.size, 0u);
        next += blk.size;
        if (i > 0) {
          EXPECT_FALSE(blk.state == State::Cached && seg.blocks[i - 1].state == State::Cached)
              << "unmerged free neighbours at " << blk.ptr;
        }
        if (blk.state == State::Allocated) {
          allocated[blk.ptr] = &blk;
          stream_of[blk.ptr] = seg.stream;
          in_blocks += blk.size;
          ++blocks;
        }
        if (blk.state == State::AwaitingEvents) {
          EXPECT_TRUE(model.deferred.count(blk.ptr)) << blk.ptr << " awaits events it never had";
        }
      }
      EXPECT_EQ(next, static_cast<const char*>(seg.ptr) + seg.size);
    }
    EXPECT_EQ(s.reserved_bytes, reserved);
    EXPECT_EQ(rt.used(d), reserved);
    EXPECT_EQ(s.device_mallocs - s.device_frees, segments);
    EXPECT_EQ(s.allocated_bytes, in_blocks);
    EXPECT_EQ(s.allocations, blocks);
    EXPECT_GE(s.peak_allocated_bytes, s.allocated_bytes);
    EXPECT_GE(s.peak_reserved_bytes, s.reserved_bytes);
  }
  // The allocated blocks are exactly the live allocations, each from its stream's pool, at least
  // as large as asked; live allocations never overlap.
  EXPECT_EQ(allocated.size(), model.live.size());
  size_t live_bytes = 0;
  for (const auto& [p, l] : model.live) {
    auto it = allocated.find(p);
    ASSERT_NE(it, allocated.end()) << p << " is live but not an allocated block";
    EXPECT_GE(it->second->size, l.rounded);
    EXPECT_EQ(stream_of[p], l.stream);
    live_bytes += l.rounded;
  }
  const char* end = nullptr;
  for (const auto& [p, l] : model.live) {  // in address order
    EXPECT_TRUE(end == nullptr || static_cast<const char*>(p) >= end) << "overlap at " << p;
    end = static_cast<const char*>(p) + l.rounded;
  }
  size_t total = 0;
  for (int d = 0; d < devices; ++d) total += alloc.stats(d).allocated_bytes;
  EXPECT_GE(total, live_bytes);
  // Memory another stream may still use is neither handed out nor cached.
  for (const auto& g : model.guards) {
    if (rt.records_done(g.first, g.last)) continue;
    bool awaiting = false;
    for (const auto& seg : snap)
      for (const auto& blk : seg.blocks) {
        if (!overlaps(g.ptr, g.size, static_cast<const char*>(blk.ptr), blk.size)) continue;
        EXPECT_EQ(blk.state, State::AwaitingEvents)
            << "memory in use on another stream at " << blk.ptr;
        awaiting = true;
      }
    EXPECT_TRUE(awaiting) << "guarded memory at " << static_cast<void*>(g.ptr) << " vanished";
  }
}

// After an out-of-memory error on `device` for `rounded` bytes on `stream`, the allocator must
// have tried everything: no events pending, no wholly free segment kept, no cached block that
// fits, and the device really has no room for the segment.
void check_oom_was_real(const CachingAllocator& alloc, FakeRuntime& rt, int device,
                        StreamHandle stream, size_t rounded) {
  const bool small = rounded <= MiB;
  for (const auto& seg : alloc.memory_snapshot()) {
    if (seg.device != device) continue;
    EXPECT_FALSE(seg.blocks.size() == 1 && seg.blocks[0].state == State::Cached)
        << "a wholly free segment was kept";
    for (const auto& blk : seg.blocks) {
      EXPECT_NE(blk.state, State::AwaitingEvents);
      if (seg.stream == stream && seg.small_pool == small && blk.state == State::Cached) {
        EXPECT_LT(blk.size, rounded) << "a cached block would have fit";
      }
    }
  }
  EXPECT_LT(rt.memory_info(device).first, CachingAllocator::segment_size(rounded));
}

size_t random_size(std::mt19937& gen) {
  const int kind = std::uniform_int_distribution<int>(0, 99)(gen);
  if (kind < 60) {  // small: log-uniform up to 1 MiB, sometimes 0
    const int bits = std::uniform_int_distribution<int>(0, 20)(gen);
    return std::uniform_int_distribution<size_t>(0, size_t(1) << bits)(gen);
  }
  if (kind < 92) return std::uniform_int_distribution<size_t>(MiB + 1, 10 * MiB)(gen);
  return std::uniform_int_distribution<size_t>(10 * MiB, 48 * MiB)(gen);
}

struct StressCounts {
  int64_t allocations = 0, ooms = 0, retries = 0, deferred_frees = 0, reused = 0;
};

StressCounts run_stress(uint32_t seed, int steps) {
  constexpr int kDevices = 2;
  FakeRuntime rt(kDevices, 160 * MiB);
  CachingAllocator alloc(rt);
  std::mt19937 gen(seed);
  std::vector<std::vector<StreamHandle>> streams(kDevices);
  for (int d = 0; d < kDevices; ++d)
    for (int i = 0; i < 3; ++i) streams[size_t(d)].push_back(rt.create_stream(d));
  Model model;
  StressCounts counts;
  auto pick = [&](auto& container) {
    auto it = container.begin();
    std::advance(it, std::uniform_int_distribution<size_t>(0, container.size() - 1)(gen));
    return it;
  };
  for (int step = 0; step < steps; ++step) {
    SCOPED_TRACE("seed " + std::to_string(seed) + ", step " + std::to_string(step));
    const int op = std::uniform_int_distribution<int>(0, 99)(gen);
    const int device = std::uniform_int_distribution<int>(0, kDevices - 1)(gen);
    StreamHandle stream = *pick(streams[size_t(device)]);
    const bool want_alloc = model.live.size() < 8 || (model.live.size() < 60 && op < 45);
    if (want_alloc) {
      const size_t n = random_size(gen);
      const size_t rounded = CachingAllocator::round_size(n);
      void* p = nullptr;
      try {
        p = alloc.allocate(n, device, stream);
      } catch (const Error& e) {
        EXPECT_TRUE(contains(e.what(), "out of memory on cuda:" + std::to_string(device)));
        ++counts.ooms;
        check_oom_was_real(alloc, rt, device, stream, rounded);
      }
      if (p) {
        ++counts.allocations;
        EXPECT_EQ(model.live.count(p), 0u) << "handed out twice: " << p;
        counts.reused += model.deferred.erase(p);
        model.live[p] = {rounded, device, stream, {}};
      }
    } else if (op < 80 && !model.live.empty()) {
      auto it = pick(model.live);
      void* p = it->first;
      const size_t first = rt.record_count();
      alloc.free(p);
      const size_t last = rt.record_count();
      EXPECT_EQ(last - first, it->second.uses.size()) << "one event per other stream";
      if (!it->second.uses.empty()) {
        model.guards.push_back({static_cast<char*>(p), it->second.rounded, first, last});
        model.deferred.insert(p);
        ++counts.deferred_frees;
      }
      model.live.erase(it);
    } else if (op < 90 && !model.live.empty()) {
      auto it = pick(model.live);
      StreamHandle s = *pick(streams[size_t(it->second.device)]);
      alloc.record_stream(it->first, s);
      auto& uses = it->second.uses;
      if (s != it->second.stream && std::find(uses.begin(), uses.end(), s) == uses.end())
        uses.push_back(s);
    } else if (op < 98) {
      rt.complete(stream);
    } else {
      alloc.empty_cache();
    }
    std::erase_if(model.guards, [&](const Model::Guard& g) {
      return rt.records_done(g.first, g.last) && !model.deferred.count(g.ptr);
    });
    check_invariants(alloc, rt, model, kDevices);
    if (::testing::Test::HasFailure()) break;  // the first broken step says most
  }
  for (int d = 0; d < kDevices; ++d) counts.retries += alloc.stats(d).alloc_retries;
  // Everything freed and the cache emptied: the device gets all its memory back.
  for (const auto& [p, l] : model.live) alloc.free(p);
  alloc.empty_cache();
  for (int d = 0; d < kDevices; ++d) {
    EXPECT_EQ(alloc.stats(d).allocated_bytes, 0u);
    EXPECT_EQ(alloc.stats(d).reserved_bytes, 0u);
  }
  EXPECT_TRUE(rt.segments().empty());
  return counts;
}

}  // namespace

TEST(CachingAllocatorStress, RandomSequencesKeepTheInvariants) {
  StressCounts total;
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    const StressCounts c = run_stress(seed, 2500);
    total.allocations += c.allocations;
    total.ooms += c.ooms;
    total.retries += c.retries;
    total.deferred_frees += c.deferred_frees;
    total.reused += c.reused;
    if (HasFailure()) break;
  }
  // The sequences reach every path: retries that succeed and fail, deferred frees and the reuse
  // of their memory.
  EXPECT_GT(total.ooms, 0);
  EXPECT_GT(total.retries, total.ooms);
  EXPECT_GT(total.deferred_frees, 0);
  EXPECT_GT(total.reused, 0);
  std::printf(
      "%lld allocations, %lld retries, %lld out of memory, %lld deferred frees, %lld reused\n",
      (long long)total.allocations, (long long)total.retries, (long long)total.ooms,
      (long long)total.deferred_frees, (long long)total.reused);
}
