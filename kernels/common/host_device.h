// TANDEM_HD marks functions compiled for both host and device, so the CUDA kernels and the CPU
// kernels share one definition of the arithmetic (and CPU tests cover the CUDA math).
#pragma once

#if defined(__CUDACC__)
#define TANDEM_HD __host__ __device__ __forceinline__
#else
#define TANDEM_HD inline
#endif
