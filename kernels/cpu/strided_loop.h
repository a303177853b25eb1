// The one loop every CPU elementwise kernel runs: N operands that share an index space `sizes`,
// each with its own strides (in elements). Adjacent dims that are laid out back to back in
// every operand are merged first, so contiguous tensors become a single flat inner loop that
// the compiler vectorises; broadcast operands have stride 0.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "kernels/common/small_vector.h"
#include "kernels/dispatch.h"

namespace tandem::kernels::cpu {

// Per-dim values inside their owner for up to 8 dims (every tensor a model makes), so that
// setting up a loop allocates nothing.
using LoopDims = SmallVector<int64_t, 8>;

template <size_t N>
struct StridedLoop {
  LoopDims sizes;
  std::array<LoopDims, N> strides;

  StridedLoop(const Dims& sz, const std::array<std::reference_wrapper<const Dims>, N>& st) {
    // Drop size-1 dims, and merge dim d into the previous kept one when every operand has
    // stride[prev] == stride[d] * size[d].
    for (size_t d = 0; d < sz.size(); ++d) {
      if (sz[d] == 1) continue;
      const size_t kept = sizes.size();
      bool mergeable = kept > 0;
      for (size_t k = 0; k < N && mergeable; ++k)
        mergeable = strides[k][kept - 1] == st[k].get()[d] * sz[d];
      if (mergeable) {
        sizes[kept - 1] *= sz[d];
        for (size_t k = 0; k < N; ++k) strides[k][kept - 1] = st[k].get()[d];
        continue;
      }
      sizes.push_back(sz[d]);
      for (size_t k = 0; k < N; ++k) strides[k].push_back(st[k].get()[d]);
    }
  }

  // inner(offsets, n, inner_strides): offsets[k] is the element offset of operand k at the start
  // of a run of n elements along the innermost dim.
  template <typename Inner>
  void run(Inner&& inner) const {
    const int64_t nd = int64_t(sizes.size());
    for (size_t d = 0; d < sizes.size(); ++d)
      if (sizes[d] == 0) return;
    std::array<int64_t, N> inner_strides{};
    for (size_t k = 0; k < N; ++k) inner_strides[k] = nd ? strides[k][nd - 1] : 0;
    const int64_t n = nd ? sizes[nd - 1] : 1;
    LoopDims counter;
    for (int64_t d = 0; d + 1 < nd; ++d) counter.push_back(0);
    std::array<int64_t, N> offsets{};
    while (true) {
      inner(offsets, n, inner_strides);
      // Odometer increment over the outer dims.
      int64_t d = nd - 2;
      for (; d >= 0; --d) {
        if (++counter[d] < sizes[d]) {
          for (size_t k = 0; k < N; ++k) offsets[k] += strides[k][d];
          break;
        }
        for (size_t k = 0; k < N; ++k) offsets[k] -= strides[k][d] * (sizes[d] - 1);
        counter[d] = 0;
      }
      if (d < 0) return;
    }
  }
};

}  // namespace tandem::kernels::cpu
