// OpenBLAS GEMM (see gemm.h) and the batched `gemm` kernel family on the CPU.
#include "kernels/cpu/gemm.h"

#include <cblas.h>  // cblas_sgemm, cblas_dgemm, blasint

#include <type_traits>

#include "kernels/cpu/register.h"

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

void gemm_cpu(const KernelContext&, const GemmShape& s, const Buffer& a, const Buffer& b,
              const Buffer& c) {
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
