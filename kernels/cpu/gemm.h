// Internal to kernels/cpu (the `gemm` family and the convolutions): matrix products through
// OpenBLAS (cblas_sgemm / cblas_dgemm), row-major:
//   C = alpha * op(A) @ op(B) + beta * C,  op(X) = X or X^T,
// with op(A) m x k, op(B) k x n, C m x n and leading dimensions in elements. A transposed
// strided view is passed as the untransposed matrix with the transpose flag, so it needs no copy.
#pragma once

#include <cstdint>

namespace tandem::kernels::cpu {

template <typename T>  // float or double
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace tandem::kernels::cpu
