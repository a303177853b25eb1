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

}  // namespace tandem::kernels
