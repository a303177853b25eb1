// How a row-major batched GEMM (GemmShape, the kernel table's form) becomes the column-major
// problem cuBLAS and cuBLASLt solve. Row-major C = op(A) @ op(B) is, read column-major,
// C^T = op(B)^T @ op(A)^T: the same memory with the operands swapped and m, n exchanged; the
// transpose flags and leading dimensions carry over unchanged. Pure host code, so the mapping is
// tested on the CPU (tests/test_gemm_plan.cpp) against a column-major reference product.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

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

// One strided 2-D copy, as cudaMemcpy2DAsync takes it: `height` columns of `width` elements,
// from src_offset with leading dimension src_ld to dst_offset with dst_ld (all in elements).
struct MatrixCopy {
  int64_t src_offset = 0, src_ld = 1, dst_offset = 0, dst_ld = 1, width = 0, height = 0;
};

inline MatrixCopy reversed(const MatrixCopy& c) {
  return {c.dst_offset, c.dst_ld, c.src_offset, c.src_ld, c.width, c.height};
}

// Where one operand's packed copy lives: its leading dimension and batch stride (0 for a
// broadcast operand, copied once) and the elements its allocation needs.
struct PackedLayout {
  int64_t ld = 1, stride = 0, elements = 0;
};

// cuBLASLt's heuristic can find no algorithm for a problem as laid out: an address, leading
// dimension or batch stride aligned below what its kernels read (a view starting one float16
// in). The product then runs on packed copies: each operand in a fresh allocation (the caching
// allocator's blocks are 512-byte aligned) with its leading dimension rounded up to 16 bytes,
// which every algorithm accepts. Pure host code, tested on the CPU (tests/test_gemm_plan.cpp).
inline PackedLayout packed_layout(int64_t rows, int64_t cols, int64_t stride, int64_t batch,
                                  size_t element_size) {
  const int64_t per_16_bytes = element_size >= 16 ? 1 : int64_t(16 / element_size);
  PackedLayout l;
  l.ld = (std::max<int64_t>(rows, 1) + per_16_bytes - 1) / per_16_bytes * per_16_bytes;
  l.stride = stride == 0 || batch == 1 ? 0 : l.ld * cols;
  l.elements = l.ld * cols * (l.stride == 0 ? 1 : batch);
  return l;
}

// The copies that move one operand (rows x cols, leading dimension ld, batch stride `stride`)
// into its packed layout; reversed() moves a packed result back. Batches that follow each other
// at ld * cols are one copy; other strides take one copy per batch.
inline std::vector<MatrixCopy> pack_copies(int64_t rows, int64_t cols, int64_t ld, int64_t stride,
                                           int64_t batch, const PackedLayout& packed) {
  const int64_t copies = packed.stride == 0 ? 1 : batch;
  if (copies == 1 || stride == ld * cols)
    return {MatrixCopy{0, ld, 0, packed.ld, rows, cols * copies}};
  std::vector<MatrixCopy> out;
  out.reserve(size_t(copies));
  for (int64_t i = 0; i < copies; ++i)
    out.push_back(MatrixCopy{i * stride, ld, i * packed.stride, packed.ld, rows, cols});
  return out;
}

// The problem `p` on its operands' packed copies.
struct PackedGemm {
  ColumnMajorGemm gemm;
  PackedLayout a, b, c;
};

inline PackedGemm packed_gemm(const ColumnMajorGemm& p, size_t element_size) {
  PackedGemm out{p, packed_layout(p.a_rows, p.a_cols, p.stride_a, p.batch, element_size),
                 packed_layout(p.b_rows, p.b_cols, p.stride_b, p.batch, element_size),
                 packed_layout(p.m, p.n, p.stride_c, p.batch, element_size)};
  out.gemm.lda = out.a.ld;
  out.gemm.ldb = out.b.ld;
  out.gemm.ldc = out.c.ld;
  out.gemm.stride_a = out.a.stride;
  out.gemm.stride_b = out.b.stride;
  out.gemm.stride_c = out.c.stride;
  return out;
}

}  // namespace tandem::kernels
