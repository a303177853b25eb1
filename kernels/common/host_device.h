// TANDEM_HD marks functions compiled for both host and device, so the CUDA kernels and the CPU
// kernels share one definition of the arithmetic (and CPU tests cover the CUDA math).
#pragma once

#if defined(__CUDACC__)
#define TANDEM_HD __host__ __device__ __forceinline__
#else
#define TANDEM_HD inline
#endif

namespace tandem::kernels {

// min and max for host and device code (std::min/std::max are host-only without nvcc's
// --expt-relaxed-constexpr).
template <typename T>
TANDEM_HD T hd_min(T a, T b) {
  return b < a ? b : a;
}
template <typename T>
TANDEM_HD T hd_max(T a, T b) {
  return a < b ? b : a;
}

// a * b, rounded on its own on the GPU as on the CPU: nvcc would otherwise fuse a product with a
// following addition into one fused multiply-add (one rounding instead of two), and a GPU result
// meant to equal the CPU's bit for bit (a source coordinate, an interpolation weight) would
// differ in the last bit. __dmul_rn/__fmul_rn are never fused.
TANDEM_HD double hd_mul(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

}  // namespace tandem::kernels
