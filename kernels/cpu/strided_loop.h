// The one loop every CPU elementwise kernel runs: N operands that share an index space `sizes`,
// each with its own strides (in elements). Adjacent dims that are laid out back to back in
// every operand are merged first (kernels/common/merged_dims.h), so contiguous tensors become a
// single flat inner loop that the compiler vectorises; broadcast operands have stride 0.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "kernels/common/merged_dims.h"
#include "kernels/cpu/parallel_for.h"
#include "kernels/dispatch.h"

namespace tandem::kernels::cpu {

using kernels::LoopDims;

template <size_t N>
struct StridedLoop {
  LoopDims sizes;
  std::array<LoopDims, N> strides;

  StridedLoop(const Dims& sz, const std::array<std::reference_wrapper<const Dims>, N>& st) {
    std::array<const Dims*, N> ptrs;
    for (size_t k = 0; k < N; ++k) ptrs[k] = &st[k].get();
    MergedDims<N> merged = merge_dims<N>(sz, ptrs);
    sizes = std::move(merged.sizes);
    strides = std::move(merged.strides);
  }

  // inner(offsets, n, inner_strides): offsets[k] is the element offset of operand k at the start
  // of a run of n elements along the innermost dim.
  template <typename Inner>
  void run(Inner&& inner) const {
    run_from({}, sizes, inner);
  }

  // run(), with the index space cut along split_dim() into one slice per CPU thread
  // (parallel_for.h). Every element is visited once, and the elements of one slice in run()'s
  // order, so each output is computed as run() computes it: no two slices write one output
  // element, since operand 0 moves along the split dim.
  template <typename Inner>
  void run_parallel(const Inner& inner) const {
    const size_t split = split_dim();
    int64_t numel = 1;
    for (int64_t s : sizes) numel *= s;
    if (numel < 2 * kParallelGrain || split >= sizes.size()) return run(inner);
    parallel_for(0, sizes[split], grain_for(numel / sizes[split]), [&](int64_t b, int64_t e) {
      LoopDims part = sizes;
      part[split] = e - b;
      std::array<int64_t, N> base{};
      for (size_t k = 0; k < N; ++k) base[k] = b * strides[k][split];
      run_from(base, part, inner);
    });
  }

  // The dim for run_parallel to split: the largest one along which operand 0 (the output) moves.
  // For an elementwise loop, the largest dim; for a reduction (output stride 0 along reduced
  // dims), the largest dim it keeps, and sizes.size() (no split) when all of it reduces into one.
  size_t split_dim() const {
    size_t best = sizes.size();
    for (size_t d = 0; d < sizes.size(); ++d)
      if (strides[0][d] != 0 && (best == sizes.size() || sizes[d] > sizes[best])) best = d;
    return best;
  }

 private:
  template <typename Inner>
  void run_from(const std::array<int64_t, N>& base, const LoopDims& extent, Inner&& inner) const {
    const int64_t nd = int64_t(extent.size());
    for (size_t d = 0; d < extent.size(); ++d)
      if (extent[d] == 0) return;
    std::array<int64_t, N> inner_strides{};
    for (size_t k = 0; k < N; ++k) inner_strides[k] = nd ? strides[k][nd - 1] : 0;
    const int64_t n = nd ? extent[nd - 1] : 1;
    LoopDims counter;
    for (int64_t d = 0; d + 1 < nd; ++d) counter.push_back(0);
    std::array<int64_t, N> offsets = base;
    while (true) {
      inner(offsets, n, inner_strides);
      // Odometer increment over the outer dims.
      int64_t d = nd - 2;
      for (; d >= 0; --d) {
        if (++counter[d] < extent[d]) {
          for (size_t k = 0; k < N; ++k) offsets[k] += strides[k][d];
          break;
        }
        for (size_t k = 0; k < N; ++k) offsets[k] -= strides[k][d] * (extent[d] - 1);
        counter[d] = 0;
      }
      if (d < 0) return;
    }
  }
};

}  // namespace tandem::kernels::cpu
