// CUDA elementwise kernels with the same contract as kernels/cpu/elementwise.h (strided operands
// over one index space, broadcast operands with stride 0) and the same functors. Pointers are
// device pointers. T is float or double. Built from elementwise.cu, or from the stub without CUDA.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/common/elementwise_functors.h"

namespace tandem::kernels::cuda {

using Dims = std::vector<int64_t>;

template <typename T>
void unary(UnaryOp op, const OpParams& params, const Dims& sizes, const T* in, const Dims& in_strides,
           T* out, const Dims& out_strides);

template <typename T>
void binary(BinaryOp op, const OpParams& params, const Dims& sizes, const T* a, const Dims& a_strides,
            const T* b, const Dims& b_strides, T* out, const Dims& out_strides);

}  // namespace tandem::kernels::cuda
