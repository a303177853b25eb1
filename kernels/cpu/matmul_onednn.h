// bfloat16 matrix products through oneDNN's matmul primitive, on processors with bf16
// instructions (AVX512_BF16, AMX): bfloat16 operands, float accumulation, one rounding of the
// result, as cuBLASLt does on a GPU. kernels/cpu/gemm.cpp uses it for the gemm family's bfloat16
// calls where onednn_bf16_gemm says so, and its float32 fallback elsewhere. Primitives are built
// once per shape and cached; their scratchpad is the thread's kernel scratch.
#pragma once

#include "kernels/common/kernel_params.h"

namespace tandem::kernels::cpu {

// Whether oneDNN multiplies bfloat16 matrices of this shape natively (not with its reference
// implementation); false without oneDNN, for empty products and where no primitive exists.
bool onednn_bf16_gemm(const GemmShape& s);

// c[i] = alpha * op(a[i]) @ op(b[i]) + beta * c[i] for i < s.batch, bfloat16 buffers laid out as
// the gemm family says (row-major, leading dims, batch strides; a stride of 0 broadcasts).
void onednn_bf16_gemm(const GemmShape& s, const void* a, const void* b, void* c);

}  // namespace tandem::kernels::cpu
