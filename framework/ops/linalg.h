// Matrix products through the `gemm` kernel family (OpenBLAS for floating point on the CPU,
// cuBLAS on a GPU; integer matrices on the CPU only, with wraparound): matmul with torch.matmul's
// rules (1-D, 2-D, batched with broadcast batch dims) and linear (x @ W^T + b).
#pragma once

#include "framework/tensor/tensor.h"

namespace tandem {

Tensor matmul(const Tensor& a, const Tensor& b);
Tensor mm(const Tensor& a, const Tensor& b);  // 2-D only
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {});

}  // namespace tandem
