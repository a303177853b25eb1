// The CUDA kernels' launch plans, pure host code checked on the CPU.
// plan_reduction (kernels/common/reduce_plan.h), the reduction's split of its work over blocks:
// many outputs keep a block each; few outputs of many elements are cut into runs that cover
// every element once, none empty, enough of them to fill a GPU; the plan is a function of the
// shape alone (so of the summation order, and of the bits).
// plan_multi_tensor (kernels/common/multi_tensor_plan.h), the optimizers' launches over a list
// of parameters: every chunk of every tensor exactly once, within the launch table's limits.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "kernels/common/multi_tensor_plan.h"
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

namespace {

// Every (tensor, chunk) the launches cover, counted; and the launches' count.
struct Coverage {
  std::map<std::pair<int, int64_t>, int> chunks;
  int launches = 0;
};

Coverage cover(const std::vector<int64_t>& sizes) {
  using namespace tandem::kernels;
  Coverage c;
  plan_multi_tensor(
      int(sizes.size()), [&](int i) { return sizes[size_t(i)]; },
      [&](const MultiTensorLaunch& l) {
        ++c.launches;
        EXPECT_GT(l.blocks, 0);
        EXPECT_LE(l.blocks, kMultiTensorMaxBlocks);
        EXPECT_GT(l.tensors, 0);
        EXPECT_LE(l.tensors, kMultiTensorMaxTensors);
        for (int b = 0; b < l.blocks; ++b) {
          EXPECT_LT(int(l.slot[b]), l.tensors);
          const int t = l.tensor[l.slot[b]];
          EXPECT_LT(int64_t(l.chunk[b]) * kMultiTensorChunk, sizes[size_t(t)]);
          ++c.chunks[{t, l.chunk[b]}];
        }
      });
  return c;
}

}  // namespace

TEST(MultiTensorPlan, EveryChunkOfEveryTensorIsUpdatedOnce) {
  using tandem::kernels::kMultiTensorChunk;
  // A ResNet-50's shapes in miniature: many small tensors (biases, norms), a few large ones, an
  // empty one, tensors of exactly a chunk and one element over, and one larger than a launch.
  std::vector<int64_t> sizes;
  for (int i = 0; i < 100; ++i) sizes.push_back(i % 3 == 0 ? 64 : i % 3 == 1 ? 2359296 : 512);
  sizes.push_back(0);
  sizes.push_back(kMultiTensorChunk);
  sizes.push_back(kMultiTensorChunk + 1);
  sizes.push_back(400 * kMultiTensorChunk + 5);
  const Coverage c = cover(sizes);
  int64_t expected = 0;
  for (size_t t = 0; t < sizes.size(); ++t) {
    const int64_t chunks = (sizes[t] + kMultiTensorChunk - 1) / kMultiTensorChunk;
    expected += chunks;
    for (int64_t k = 0; k < chunks; ++k)
      ASSERT_EQ(c.chunks.count({int(t), k}), 1u) << "tensor " << t << " chunk " << k;
  }
  EXPECT_EQ(int64_t(c.chunks.size()), expected);
  for (const auto& [chunk, times] : c.chunks) EXPECT_EQ(times, 1);
  // Few launches: the chunks over the blocks per launch, plus the tensor-slot limits.
  EXPECT_LE(c.launches, expected / tandem::kernels::kMultiTensorMaxBlocks + 6);
}

TEST(MultiTensorPlan, SmallModelsTakeOneLaunchAndEmptyListsNone) {
  EXPECT_EQ(cover(std::vector<int64_t>(10, 1000)).launches, 1);
  EXPECT_EQ(cover(std::vector<int64_t>(36, 10)).launches, 1);
  EXPECT_EQ(cover(std::vector<int64_t>(37, 10)).launches, 2);  // over the tensor slots
  EXPECT_EQ(cover({}).launches, 0);
  EXPECT_EQ(cover({0, 0}).launches, 0);
}
