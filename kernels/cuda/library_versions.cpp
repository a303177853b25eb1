// The CUDA stack's versions and devices (see library_versions.h). Plain host code: the version
// calls need no device, and a missing driver or device is reported, never thrown.
#include "kernels/cuda/library_versions.h"

#include <cuda_runtime.h>   // defines: cudaRuntimeGetVersion, cudaDriverGetVersion, CUDART_VERSION
#include <cudnn.h>          // defines: cudnnGetVersion, CUDNN_MAJOR, CUDNN_MINOR, CUDNN_PATCHLEVEL
#include <curand.h>         // defines: curandGetProperty, CURAND_VER_*
#include <library_types.h>  // defines: MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL

#include <exception>

#include "kernels/cuda/cublaslt_library.h"  // defines: cublaslt, CUBLAS_VER_*

namespace tandem::kernels::cuda {
namespace {

// CUDA encodes runtime and driver versions as 1000 * major + 10 * minor.
std::string cuda_version(int v) {
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}

LibraryVersion runtime_version() {
  LibraryVersion v{"CUDA runtime", cuda_version(CUDART_VERSION), "",
                   loaded_from(&cudaRuntimeGetVersion)};
  int n = 0;
  const cudaError_t err = cudaRuntimeGetVersion(&n);
  v.running =
      err == cudaSuccess ? cuda_version(n) : std::string("unknown: ") + cudaGetErrorString(err);
  return v;
}

// The CUDA version the installed driver supports; 0 means no driver (libcuda.so.1) was found.
LibraryVersion driver_version() {
  LibraryVersion v{"CUDA driver", "-", "", ""};
  int n = 0;
  const cudaError_t err = cudaDriverGetVersion(&n);
  if (err != cudaSuccess)
    v.running = std::string("unknown: ") + cudaGetErrorString(err);
  else if (n == 0)
    v.running = "none (no NVIDIA driver: libcuda.so.1 not found)";
  else
    v.running = cuda_version(n);
  // The runtime loaded the driver library itself (dlopen): ask the loader which file it was.
  if (void* handle = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD)) {
    if (const void* symbol = dlsym(handle, "cuInit")) v.location = loaded_from(symbol);
    dlclose(handle);
  }
  return v;
}

// cuBLASLt reports 10000 * major + 100 * minor + patch. It is opened at first use
// (cublaslt_library.h), so asking for its version loads it; a failed load is the answer.
LibraryVersion cublaslt_version() {
  LibraryVersion v{"cuBLASLt", dotted(CUBLAS_VER_MAJOR, CUBLAS_VER_MINOR, CUBLAS_VER_PATCH), "",
                   ""};
  try {
    const CublasLt& lt = cublaslt();
    const size_t n = lt.cublasLtGetVersion();
    v.running = dotted(int(n / 10000), int(n / 100 % 100), int(n % 100));
    v.location = lt.path;
  } catch (const std::exception& e) {
    v.running = std::string("not loadable: ") + e.what();
  }
  return v;
}

// cuDNN 9 reports 10000 * major + 100 * minor + patch.
LibraryVersion cudnn_version() {
  const size_t n = cudnnGetVersion();
  return {"cuDNN", dotted(CUDNN_MAJOR, CUDNN_MINOR, CUDNN_PATCHLEVEL),
          dotted(int(n / 10000), int(n / 100 % 100), int(n % 100)), loaded_from(&cudnnGetVersion)};
}

LibraryVersion curand_version() {
  LibraryVersion v{"cuRAND", dotted(CURAND_VER_MAJOR, CURAND_VER_MINOR, CURAND_VER_PATCH), "",
                   loaded_from(&curandGetProperty)};
  int major = 0, minor = 0, patch = 0;
  if (curandGetProperty(MAJOR_VERSION, &major) == CURAND_STATUS_SUCCESS &&
      curandGetProperty(MINOR_VERSION, &minor) == CURAND_STATUS_SUCCESS &&
      curandGetProperty(PATCH_LEVEL, &patch) == CURAND_STATUS_SUCCESS)
    v.running = dotted(major, minor, patch);
  else
    v.running = "unknown";
  return v;
}

}  // namespace

CudaReport cuda_report() {
  CudaReport r;
  r.built_with_cuda = true;
  r.libraries = {runtime_version(), driver_version(), cublaslt_version(), cudnn_version(),
                 curand_version()};
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the error so later CUDA calls do not see it
    r.no_device_reason = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
    return r;
  }
  if (count == 0) r.no_device_reason = "the driver reports 0 devices";
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
      r.no_device_reason = "cudaGetDeviceProperties(" + std::to_string(i) +
                           ") failed: " + cudaGetErrorString(cudaGetLastError());
      continue;
    }
    r.devices.push_back({i, p.name, p.totalGlobalMem, p.major, p.minor, p.multiProcessorCount});
  }
  return r;
}

}  // namespace tandem::kernels::cuda
