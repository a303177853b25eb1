// One set of checked-call macros for every NVIDIA library tandem calls: a failing call throws a
// tandem::Error naming the call, the library's own message and file:line, so a GPU problem is
// reported where it happened.
//
//   TANDEM_CUDA_CHECK(cudaMemcpyAsync(...));    // CUDA runtime, cuBLAS(Lt), cuRAND, cuDNN, NCCL
//
// The status type selects the library (overloads of status_message below); only this header
// includes the libraries' headers for that purpose.
#pragma once

#include <cuda_runtime.h>
#include <cudnn.h>
#include <curand.h>
#include <nccl.h>

#include <string>

#include "kernels/common/error.h"
#include "kernels/cuda/cublaslt_library.h"  // cuBLASLt, opened at first use

namespace tandem::kernels::cuda {

// An empty string for success, else the library's description of `status`.
inline std::string status_message(cudaError_t s) {
  return s == cudaSuccess ? std::string()
                          : std::string(cudaGetErrorName(s)) + ": " + cudaGetErrorString(s);
}
inline std::string status_message(cublasStatus_t s) {
  return s == CUBLAS_STATUS_SUCCESS ? std::string()
                                    : std::string(cublaslt().cublasLtGetStatusString(s));
}
inline std::string status_message(cudnnStatus_t s) {
  return s == CUDNN_STATUS_SUCCESS ? std::string() : std::string(cudnnGetErrorString(s));
}
inline std::string status_message(curandStatus_t s) {
  return s == CURAND_STATUS_SUCCESS ? std::string() : "cuRAND status " + std::to_string(int(s));
}
inline std::string status_message(ncclResult_t s) {
  return s == ncclSuccess ? std::string() : std::string(ncclGetErrorString(s));
}

template <typename Status>
void check(Status status, const char* call, const char* file, int line) {
  std::string msg = status_message(status);
  if (msg.empty()) return;
  throw Error(std::string(call) + " failed: " + msg + " (" + file + ":" + std::to_string(line) +
              ")");
}

}  // namespace tandem::kernels::cuda

#define TANDEM_CUDA_CHECK(call) ::tandem::kernels::cuda::check((call), #call, __FILE__, __LINE__)
