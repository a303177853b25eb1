// CPU elementwise kernels over strided operands sharing one index space `sizes` (broadcast
// operands have stride 0). The arithmetic comes from kernels/common/elementwise_functors.h.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/common/elementwise_functors.h"

namespace tandem::kernels::cpu {

using Dims = std::vector<int64_t>;

// T: float, double, int64_t or int32_t.
template <typename T>
void unary(UnaryOp op, const OpParams& params, const Dims& sizes, const T* in, const Dims& in_strides,
           T* out, const Dims& out_strides);

template <typename T>
void binary(BinaryOp op, const OpParams& params, const Dims& sizes, const T* a, const Dims& a_strides,
            const T* b, const Dims& b_strides, T* out, const Dims& out_strides);

template <typename T>
void compare(CompareOp op, const Dims& sizes, const T* a, const Dims& a_strides, const T* b,
             const Dims& b_strides, bool* out, const Dims& out_strides);

// out = cond ? a : b
template <typename T>
void where(const Dims& sizes, const bool* cond, const Dims& c_strides, const T* a, const Dims& a_strides,
           const T* b, const Dims& b_strides, T* out, const Dims& out_strides);

// Strided copy with conversion between any two element types (float16/bfloat16 included).
template <typename Src, typename Dst>
void convert(const Dims& sizes, const Src* in, const Dims& in_strides, Dst* out, const Dims& out_strides);

template <typename T>
void fill(const Dims& sizes, T* out, const Dims& out_strides, T value);

}  // namespace tandem::kernels::cpu
