// merge_dims (kernels/common/merged_dims.h), which both the CPU's strided loop and the CUDA
// kernels' Indexer start from: merged layouts for the cases models make, and, over random views
// (permuted, sliced, broadcast, with size-1 and empty dims), the property the kernels rely on:
// the k-th element of the merged index space is the k-th of the original one in every operand.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/common/merged_dims.h"

using tandem::kernels::Dims;
using tandem::kernels::LoopDims;
using tandem::kernels::merge_dims;

namespace {

Dims contiguous_strides(const Dims& sizes) {
  Dims s(sizes.size());
  int64_t step = 1;
  for (size_t d = sizes.size(); d-- > 0;) {
    s[d] = step;
    step *= sizes[d];
  }
  return s;
}

// The offsets of element `linear` (row-major over `sizes`) in each operand, decomposed as the
// CUDA Indexer decomposes it (the outermost dim takes what the inner ones leave).
template <size_t N>
std::array<int64_t, N> offsets_of(const LoopDims& sizes, const std::array<LoopDims, N>& strides,
                                  int64_t linear) {
  std::array<int64_t, N> off{};
  for (size_t d = sizes.size(); d-- > 1;) {
    const int64_t i = linear % sizes[d];
    linear /= sizes[d];
    for (size_t k = 0; k < N; ++k) off[k] += i * strides[k][d];
  }
  if (!sizes.empty())
    for (size_t k = 0; k < N; ++k) off[k] += linear * strides[k][0];
  return off;
}

template <size_t N>
std::array<LoopDims, N> as_loop_dims(const std::array<const Dims*, N>& strides) {
  std::array<LoopDims, N> out;
  for (size_t k = 0; k < N; ++k) out[k] = LoopDims(strides[k]->begin(), strides[k]->end());
  return out;
}

}  // namespace

TEST(MergedDims, ContiguousTensorsOfAnyRankBecomeOneDim) {
  const Dims sizes{8, 3, 5, 7};
  const Dims s = contiguous_strides(sizes);
  const auto m = merge_dims<2>(sizes, {&s, &s});
  EXPECT_EQ(m.sizes, LoopDims({8 * 3 * 5 * 7}));
  EXPECT_EQ(m.strides[0], LoopDims({1}));
  EXPECT_EQ(m.strides[1], LoopDims({1}));
}

TEST(MergedDims, SizeOneDimsAreDroppedAndAScalarHasNoDims) {
  const Dims sizes{1, 4, 1, 6};
  const Dims s{99, 6, 77, 1};  // a size-1 dim's stride is never used
  const auto m = merge_dims<1>(sizes, {&s});
  EXPECT_EQ(m.sizes, LoopDims({24}));
  EXPECT_EQ(m.strides[0], LoopDims({1}));
  const Dims one{1, 1}, any{5, 3};
  EXPECT_TRUE(merge_dims<1>(one, {&any}).sizes.empty());
}

TEST(MergedDims, AnOperandThatIsNotBackToBackKeepsTheDimsApart) {
  // out is contiguous; in is the transpose of a contiguous 4x6: nothing merges.
  const Dims sizes{6, 4};
  const Dims out{4, 1}, in{1, 6};
  const auto m = merge_dims<2>(sizes, {&out, &in});
  EXPECT_EQ(m.sizes, LoopDims({6, 4}));
  EXPECT_EQ(m.strides[1], LoopDims({1, 6}));
}

TEST(MergedDims, ABroadcastBiasMergesOnlyAlongTheDimsItRepeatsEvenly) {
  // x (N, C, H, W) + bias (C, 1, 1) broadcast: H and W merge (stride 0, 0 in the bias), N and C
  // do not (bias stride 0 along N, 1 along C).
  const Dims sizes{2, 3, 4, 5};
  const Dims x = contiguous_strides(sizes), bias{0, 1, 0, 0};
  const auto m = merge_dims<2>(sizes, {&x, &bias});
  EXPECT_EQ(m.sizes, LoopDims({2, 3, 20}));
  EXPECT_EQ(m.strides[0], LoopDims({60, 20, 1}));
  EXPECT_EQ(m.strides[1], LoopDims({0, 1, 0}));
}

TEST(MergedDims, EveryElementKeepsItsOffsetsInEveryOperand) {
  std::mt19937 rng(7);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int trial = 0; trial < 500; ++trial) {
    const size_t ndim = size_t(pick(0, 6));
    Dims sizes(ndim);
    for (auto& s : sizes) s = pick(0, 9) == 0 ? 0 : pick(1, 4);
    // Operand 0: contiguous. Operand 1: a permuted view of a tensor with padded dims (a slice).
    // Operand 2: broadcast along random dims.
    const Dims out = contiguous_strides(sizes);
    std::vector<size_t> perm(ndim);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    Dims permuted(ndim);
    int64_t step = 1;
    for (size_t i = ndim; i-- > 0;) {
      permuted[perm[i]] = step;
      step *= sizes[perm[i]] + (pick(0, 3) == 0 ? 1 : 0);
    }
    Dims broadcast = contiguous_strides(sizes);
    for (auto& s : broadcast)
      if (pick(0, 2) == 0) s = 0;
    const std::array<const Dims*, 3> operands{&out, &permuted, &broadcast};
    const auto m = merge_dims<3>(sizes, operands);
    const LoopDims original(sizes.begin(), sizes.end());
    const int64_t n = std::accumulate(sizes.begin(), sizes.end(), int64_t(1), std::multiplies<>());
    const int64_t merged_n =
        std::accumulate(m.sizes.begin(), m.sizes.end(), int64_t(1), std::multiplies<>());
    ASSERT_EQ(merged_n, n) << "trial " << trial;
    ASSERT_LE(m.sizes.size(), ndim);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(offsets_of<3>(m.sizes, m.strides, i),
                offsets_of<3>(original, as_loop_dims<3>(operands), i))
          << "trial " << trial << ", element " << i;
  }
}
