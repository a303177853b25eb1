// plan_reduction (kernels/common/reduce_plan.h), the CUDA reduction's split of its work over
// blocks, checked on the CPU: many outputs keep a block each; few outputs of many elements are
// cut into runs that cover every element once, none empty, enough of them to fill a GPU; the
// plan is a function of the shape alone (so of the summation order, and of the bits).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/common/reduce_plan.h"

using tandem::kernels::kReduceMinChunk;
using tandem::kernels::kReduceTargetBlocks;
using tandem::kernels::plan_reduction;
using tandem::kernels::ReducePlan;

TEST(ReducePlan, ThreadsArePowersOfTwoUpTo256CoveringSmallReductions) {
  EXPECT_EQ(plan_reduction(10, 1).threads, 32u);
  EXPECT_EQ(plan_reduction(10, 33).threads, 64u);
  EXPECT_EQ(plan_reduction(10, 200).threads, 256u);
  EXPECT_EQ(plan_reduction(10, 1 << 30).threads, 256u);
}

TEST(ReducePlan, ManyOutputsOrShortReductionsKeepABlockPerOutput) {
  for (const auto& [n_out, n_red] : std::vector<std::pair<int64_t, int64_t>>{
           {kReduceTargetBlocks, 1 << 20},  // the bias gradient of a wide layer
           {100000, 64},
           {1, 2 * kReduceMinChunk},  // a loss's mean over a batch
           {0, 1 << 20}}) {
    const ReducePlan p = plan_reduction(n_out, n_red);
    EXPECT_EQ(p.chunks, 1) << n_out << " x " << n_red;
    EXPECT_EQ(p.chunk_len, n_red);
  }
}

TEST(ReducePlan, FewLongReductionsAreCutIntoRunsThatCoverEveryElementOnce) {
  for (int64_t n_out : {1, 2, 3, 64, 100, 511})
    for (int64_t n_red : {2 * kReduceMinChunk + 1, int64_t(100003), int64_t(128) * 28 * 28,
                          int64_t(11) << 20, int64_t(3) << 31}) {
      const ReducePlan p = plan_reduction(n_out, n_red);
      const std::string what = std::to_string(n_out) + " x " + std::to_string(n_red);
      ASSERT_GE(p.chunks, 2) << what;
      // Runs [c * len, min((c + 1) * len, n_red)): the last ends at n_red and none is empty.
      EXPECT_GE(p.chunks * p.chunk_len, n_red) << what;
      EXPECT_LT((p.chunks - 1) * p.chunk_len, n_red) << what;
      EXPECT_GE(p.chunk_len, kReduceMinChunk) << what;
      // Enough blocks for a large GPU, unless the runs would get shorter than the minimum.
      EXPECT_TRUE(n_out * p.chunks >= kReduceTargetBlocks ||
                  n_red / (p.chunks + 1) < kReduceMinChunk)
          << what;
      // The second pass (chunks elements per output) is a single one.
      EXPECT_EQ(plan_reduction(n_out, p.chunks).chunks, 1) << what;
      // The same shape, the same plan.
      const ReducePlan again = plan_reduction(n_out, n_red);
      EXPECT_EQ(again.chunks, p.chunks);
      EXPECT_EQ(again.chunk_len, p.chunk_len);
    }
}
