// Indexer<N>: maps a linear index over an index space (up to kMaxDims sizes) to the element
// offsets of N strided operands, for one-thread-per-element kernels. Built on the host from the
// kernel table's descriptors and passed to the kernel by value.
#pragma once

#include <cstdint>

#include "kernels/common/error.h"
#include "kernels/dispatch.h"

namespace tandem::kernels::cuda {

constexpr int kMaxDims = 8;
constexpr int kThreads = 256;

template <int N>
struct Indexer {
  int ndim;
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];

  __device__ void offsets(int64_t linear, int64_t (&off)[N]) const {
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t i = linear % sizes[d];
      linear /= sizes[d];
      for (int k = 0; k < N; ++k) off[k] += i * strides[k][d];
    }
  }
};

template <int N>
Indexer<N> make_indexer(const Dims& sizes, const Dims* const (&strides)[N]) {
  TANDEM_CHECK(sizes.size() <= size_t(kMaxDims), "CUDA elementwise kernels take up to ", kMaxDims,
               " dims, got ", sizes.size());
  Indexer<N> ix{};
  ix.ndim = int(sizes.size());
  for (size_t d = 0; d < sizes.size(); ++d) {
    ix.sizes[d] = sizes[d];
    for (int k = 0; k < N; ++k) ix.strides[k][d] = (*strides[k])[d];
  }
  return ix;
}

inline int64_t numel(const Dims& sizes) {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  return n;
}

inline unsigned blocks_for(int64_t n) { return unsigned((n + kThreads - 1) / kThreads); }

}  // namespace tandem::kernels::cuda
