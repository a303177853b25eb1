// OpenBLAS GEMM (see gemm.h) and the batched `gemm` kernel family on the CPU. bfloat16 matrices
// go through oneDNN's matmul where the CPU has bf16 instructions (matmul_onednn.h); float16
// ones, and bfloat16 elsewhere, go through float: widened into scratch (exactly), multiplied by
// cblas_sgemm, which accumulates in float, and rounded once: cuBLAS's and oneDNN's result up to
// the order of the float sums (PyTorch 1.13's own CPU fallback accumulates in bfloat16 and is
// less exact). It is a fallback, not a fast path: bf16 instructions are not used. Integer
// matrices (every integer type but bool) go through a plain loop with wraparound, PyTorch's.
#include "kernels/cpu/gemm.h"

#include <cblas.h>  // cblas_sgemm, cblas_dgemm, blasint

#include <algorithm>
#include <type_traits>

#include "kernels/common/convert.h"
#include "kernels/cpu/matmul_onednn.h"
#include "kernels/cpu/parallel_for.h"
#include "kernels/cpu/register.h"
#include "kernels/cpu/scratch.h"

namespace tandem::kernels::cpu {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda),
                b, blasint(ldb), beta, c, blasint(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda),
                b, blasint(ldb), beta, c, blasint(ldc));
  }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);

namespace {

// rows x cols of a matrix with leading dimension `ld`, converted into a packed one (ld = cols).
template <typename S, typename D>
void convert_matrix(const S* in, int64_t rows, int64_t cols, int64_t ld, D* out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) out[r * cols + j] = convert_element<S, D>(in[r * ld + j]);
}

template <typename T>  // Half or BFloat16
void half_gemm(const GemmShape& s, const T* a, const T* b, T* c) {
  if (s.m == 0 || s.n == 0) return;
  const int64_t a_rows = s.trans_a ? s.k : s.m, a_cols = s.trans_a ? s.m : s.k;
  const int64_t b_rows = s.trans_b ? s.n : s.k, b_cols = s.trans_b ? s.k : s.n;
  float* fa = thread_scratch<float>(0, size_t(a_rows * a_cols));
  float* fb = thread_scratch<float>(1, size_t(b_rows * b_cols));
  float* fc = thread_scratch<float>(2, size_t(s.m * s.n));
  for (int64_t i = 0; i < s.batch; ++i) {
    T* ci = c + i * s.stride_c;
    convert_matrix(a + i * s.stride_a, a_rows, a_cols, s.lda, fa);
    convert_matrix(b + i * s.stride_b, b_rows, b_cols, s.ldb, fb);
    if (s.beta != 0) convert_matrix(static_cast<const T*>(ci), s.m, s.n, s.ldc, fc);
    // Leading dims of at least 1, as BLAS requires even of an empty (k = 0) operand.
    gemm<float>(s.trans_a, s.trans_b, s.m, s.n, s.k, float(s.alpha), fa,
                std::max<int64_t>(a_cols, 1), fb, std::max<int64_t>(b_cols, 1), float(s.beta), fc,
                s.n);
    for (int64_t r = 0; r < s.m; ++r)
      for (int64_t j = 0; j < s.n; ++j)
        ci[r * s.ldc + j] = convert_element<float, T>(fc[r * s.n + j]);
  }
}

// Integer matrices, as PyTorch's CPU multiplies them: in the type's own arithmetic, whose
// products and sums wrap around. Wrapping arithmetic is arithmetic modulo 2^bits, which neither
// the order nor the width of the sums changes, so they run in uint64_t (which wraps where signed
// overflow would be undefined) and are truncated once. op(B) is packed row-major so that each
// row of C is a sum of contiguous rows of B scaled by one element of A: the inner loop streams.
template <typename T>
void integer_gemm(const GemmShape& s, const T* a, const T* b, T* c) {
  if (s.m == 0 || s.n == 0) return;
  const auto widen = [](T v) { return uint64_t(int64_t(v)); };
  const uint64_t alpha = uint64_t(int64_t(s.alpha)), beta = uint64_t(int64_t(s.beta));
  uint64_t* packed_b = thread_scratch<uint64_t>(0, size_t(s.k * s.n));
  for (int64_t i = 0; i < s.batch; ++i) {
    const T* ai = a + i * s.stride_a;
    const T* bi = b + i * s.stride_b;
    T* ci = c + i * s.stride_c;
    for (int64_t p = 0; p < s.k; ++p)
      for (int64_t j = 0; j < s.n; ++j)
        packed_b[p * s.n + j] = widen(s.trans_b ? bi[j * s.ldb + p] : bi[p * s.ldb + j]);
    parallel_for(0, s.m, grain_for(s.k * s.n), [&](int64_t r0, int64_t r1) {
      uint64_t* row = thread_scratch<uint64_t>(1, size_t(s.n));
      for (int64_t r = r0; r < r1; ++r) {
        std::fill(row, row + s.n, uint64_t(0));
        for (int64_t p = 0; p < s.k; ++p) {
          const uint64_t x = widen(s.trans_a ? ai[p * s.lda + r] : ai[r * s.lda + p]);
          const uint64_t* brow = packed_b + p * s.n;
          for (int64_t j = 0; j < s.n; ++j) row[j] += x * brow[j];
        }
        T* cr = ci + r * s.ldc;
        for (int64_t j = 0; j < s.n; ++j) {
          // beta == 0 does not read C, which may be uninitialised.
          const uint64_t start = beta == 0 ? 0 : beta * widen(cr[j]);
          cr[j] = T(alpha * row[j] + start);
        }
      }
    });
  }
}

}  // namespace

void gemm_cpu(const KernelContext&, const GemmShape& s, const Buffer& a, const Buffer& b,
              const Buffer& c) {
  if (c.dtype == DType::Float16)
    return half_gemm(s, a.as<const Half>(), b.as<const Half>(), c.as<Half>());
  if (c.dtype == DType::BFloat16) {
    if (onednn_bf16_gemm(s)) return onednn_bf16_gemm(s, a.data, b.data, c.data);
    return half_gemm(s, a.as<const BFloat16>(), b.as<const BFloat16>(), c.as<BFloat16>());
  }
  if (!is_floating(c.dtype)) {
    return dispatch_arithmetic(c.dtype, "matmul", [&](auto tag) {
      using T = typename decltype(tag)::type;
      integer_gemm(s, a.as<const T>(), b.as<const T>(), c.as<T>());
    });
  }
  dispatch_floating(c.dtype, "matmul", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < s.batch; ++i)
      gemm<T>(s.trans_a, s.trans_b, s.m, s.n, s.k, T(s.alpha), a.as<const T>() + i * s.stride_a,
              s.lda, b.as<const T>() + i * s.stride_b, s.ldb, T(s.beta), c.as<T>() + i * s.stride_c,
              s.ldc);
  });
}

TANDEM_REGISTER_CPU_KERNEL(gemm, gemm_cpu);

}  // namespace tandem::kernels::cpu
