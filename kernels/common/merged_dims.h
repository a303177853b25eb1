// The index space of N strided operands with its size-1 dims dropped and its adjacent dims
// merged wherever every operand lays them out back to back (stride[d - 1] == stride[d] *
// size[d]), so that a contiguous tensor of any rank becomes one flat dim. The CPU's strided loop
// (kernels/cpu/strided_loop.h) and the CUDA kernels' Indexer (kernels/cuda/launch.cuh) both start
// from it: fewer dims mean a longer vectorised inner loop on the CPU and fewer 64-bit divisions
// per element on the GPU.
//
// Merging keeps the row-major order of the index space, so the k-th element in the merged space
// is the k-th in the original one, in every operand: a reduction that walks its reduced dims in
// that order adds the same values in the same order either way.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "kernels/common/small_vector.h"
#include "kernels/dispatch.h"

namespace tandem::kernels {

// Per-dim values inside their owner for up to 8 dims (every tensor a model makes), so that
// setting up a loop allocates nothing.
using LoopDims = SmallVector<int64_t, 8>;

template <size_t N>
struct MergedDims {
  LoopDims sizes;
  std::array<LoopDims, N> strides;  // strides[k][d]: operand k's stride (in elements) along d
};

template <size_t N>
MergedDims<N> merge_dims(const Dims& sizes, const std::array<const Dims*, N>& strides) {
  MergedDims<N> m;
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (sizes[d] == 1) continue;
    const size_t kept = m.sizes.size();
    bool mergeable = kept > 0;
    for (size_t k = 0; k < N && mergeable; ++k)
      mergeable = m.strides[k][kept - 1] == (*strides[k])[d] * sizes[d];
    if (mergeable) {
      m.sizes[kept - 1] *= sizes[d];
      for (size_t k = 0; k < N; ++k) m.strides[k][kept - 1] = (*strides[k])[d];
      continue;
    }
    m.sizes.push_back(sizes[d]);
    for (size_t k = 0; k < N; ++k) m.strides[k].push_back((*strides[k])[d]);
  }
  return m;
}

}  // namespace tandem::kernels
