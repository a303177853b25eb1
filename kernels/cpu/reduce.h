// CPU reductions over strided operands. The output is given strides of 0 along reduced dims, so
// one StridedLoop pass accumulates every input element into its output slot, with no copy of
// the input. `out` must be initialised by the caller (0 for sums, -inf for max, ...).
#pragma once

#include <cstdint>
#include <vector>

namespace tandem::kernels::cpu {

using Dims = std::vector<int64_t>;

// out[o] += in[i] for every input element i mapped to o. Acc is the accumulation type.
template <typename T, typename Acc>
void sum_into(const Dims& sizes, const T* in, const Dims& in_strides, Acc* out,
              const Dims& out_strides);

// out[o] = max(out[o], in[i]) with NaN propagating (a NaN, once seen, stays). `out` starts at the
// type's lowest value (-inf for floats). T: float, double and the integer types.
template <typename T>
void max_into(const Dims& sizes, const T* in, const Dims& in_strides, T* out,
              const Dims& out_strides);

// Max along the middle dim of a contiguous (outer, n, inner) block, n > 0: the value and the
// index of its first occurrence (the first NaN wins, as PyTorch). values/indices: outer * inner.
template <typename T>
void max_along(const T* in, int64_t outer, int64_t n, int64_t inner, T* values, int64_t* indices);

}  // namespace tandem::kernels::cpu
