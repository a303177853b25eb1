// How a row-major batched GEMM (GemmShape, the kernel table's form) becomes the column-major
// problem cuBLAS and cuBLASLt solve. Row-major C = op(A) @ op(B) is, read column-major,
// C^T = op(B)^T @ op(A)^T: the same memory with the operands swapped and m, n exchanged; the
// transpose flags and leading dimensions carry over unchanged. Pure host code, so the mapping is
// tested on the CPU (tests/test_gemm_plan.cpp) against a column-major reference product.
#pragma once

#include <cstdint>

#include "kernels/common/kernel_params.h"

namespace tandem::kernels {

// One column-major GEMM: c = alpha * op(a) @ op(b) + beta * c with op(a) m x k, op(b) k x n,
// c m x n, each matrix stored column-major with its leading dimension (>= its row count).
// `a` is the row-major problem's b and `b` its a (swap_operands).
struct ColumnMajorGemm {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 1, ldb = 1, ldc = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
  int64_t batch = 1;
  // Rows and columns of the matrices as stored (before op), as cuBLASLt's layouts take them.
  int64_t a_rows = 0, a_cols = 0, b_rows = 0, b_cols = 0;
};

inline ColumnMajorGemm column_major_gemm(const GemmShape& s) {
  ColumnMajorGemm p;
  p.trans_a = s.trans_b;
  p.trans_b = s.trans_a;
  p.m = s.n;
  p.n = s.m;
  p.k = s.k;
  p.lda = s.ldb;
  p.ldb = s.lda;
  p.ldc = s.ldc;
  p.stride_a = s.stride_b;
  p.stride_b = s.stride_a;
  p.stride_c = s.stride_c;
  p.batch = s.batch;
  p.a_rows = p.trans_a ? p.k : p.m;
  p.a_cols = p.trans_a ? p.m : p.k;
  p.b_rows = p.trans_b ? p.n : p.k;
  p.b_cols = p.trans_b ? p.k : p.n;
  return p;
}

// cuBLAS requires every leading dimension to be at least max(1, rows stored). A row-major
// operand of one column can come with ld 1 whatever its shape; it is read the same with ld =
// rows, so the plan may widen it. Returns false when a leading dimension is too small for a
// matrix with more than one column (a layout cuBLAS cannot express).
inline bool normalize_leading_dims(ColumnMajorGemm& p) {
  auto fix = [](int64_t& ld, int64_t rows, int64_t cols) {
    const int64_t need = rows > 1 ? rows : 1;
    if (ld >= need) return true;
    if (cols <= 1) {
      ld = need;
      return true;
    }
    return false;
  };
  return fix(p.lda, p.a_rows, p.a_cols) && fix(p.ldb, p.b_rows, p.b_cols) && fix(p.ldc, p.m, p.n);
}

}  // namespace tandem::kernels
