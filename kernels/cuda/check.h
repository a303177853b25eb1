// Checked wrappers for CUDA runtime and cuBLAS calls: a failure throws with the call, the error
// text and file:line, so a GPU problem is reported where it happened.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace tandem::kernels::cuda {

[[noreturn]] inline void fail(const char* what, const std::string& msg, const char* file, int line) {
  throw std::runtime_error(std::string(what) + " failed: " + msg + " (" + file + ":" + std::to_string(line) + ")");
}

inline void check_cuda(cudaError_t err, const char* call, const char* file, int line) {
  if (err != cudaSuccess) fail(call, cudaGetErrorString(err), file, line);
}

inline void check_cublas(cublasStatus_t st, const char* call, const char* file, int line) {
  if (st != CUBLAS_STATUS_SUCCESS) fail(call, "cuBLAS status " + std::to_string(int(st)), file, line);
}

}  // namespace tandem::kernels::cuda

#define TANDEM_CUDA_CHECK(call) ::tandem::kernels::cuda::check_cuda((call), #call, __FILE__, __LINE__)
#define TANDEM_CUBLAS_CHECK(call) ::tandem::kernels::cuda::check_cublas((call), #call, __FILE__, __LINE__)
