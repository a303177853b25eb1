// block_sum: the sum of one double per thread of a block, added in a shared-memory tree of fixed
// shape, so a run's bits never depend on timing (no atomics). Used by the per-channel and per-row
// statistics of batch_norm.cu and group_norm.cu.
#pragma once

#include <cuda_runtime.h>

namespace tandem::kernels::cuda {

// kBlock: the block's threads, a power of two (the tree halves it); part: kBlock doubles of
// shared memory. Every thread gets the total.
template <unsigned kBlock>
__device__ double block_sum(double v, double* part) {
  part[threadIdx.x] = v;
  __syncthreads();
  for (unsigned s = kBlock / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  const double total = part[0];
  __syncthreads();  // part is reused by the next sum
  return total;
}

}  // namespace tandem::kernels::cuda
