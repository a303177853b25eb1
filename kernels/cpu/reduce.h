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
void sum_into(const Dims& sizes, const T* in, const Dims& in_strides, Acc* out, const Dims& out_strides);

}  // namespace tandem::kernels::cpu
