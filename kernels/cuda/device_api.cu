// The CUDA device API over the CUDA runtime (see device_api.h).
#include "kernels/cuda/check.h"
#include "kernels/cuda/device_api.h"

namespace tandem::kernels::cuda {

bool built_with_cuda() { return true; }

int device_count() {
  int n = 0;
  // No driver or no device is not an error here: the caller just sees zero devices.
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error
    return 0;
  }
  return n;
}

void* malloc_device(size_t nbytes, int device) {
  TANDEM_CUDA_CHECK(cudaSetDevice(device));
  void* p = nullptr;
  TANDEM_CUDA_CHECK(cudaMalloc(&p, nbytes));
  return p;
}

void free_device(void* ptr, int device) {
  if (!ptr) return;
  cudaSetDevice(device);
  cudaFree(ptr);  // never throws from a deleter
}

void* malloc_pinned(size_t nbytes) {
  void* p = nullptr;
  TANDEM_CUDA_CHECK(cudaMallocHost(&p, nbytes));
  return p;
}

void free_pinned(void* ptr) {
  if (ptr) cudaFreeHost(ptr);
}

void copy_host_to_device(void* dst, const void* src, size_t nbytes, int device) {
  TANDEM_CUDA_CHECK(cudaSetDevice(device));
  TANDEM_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyHostToDevice));
}

void copy_device_to_host(void* dst, const void* src, size_t nbytes, int device) {
  TANDEM_CUDA_CHECK(cudaSetDevice(device));
  TANDEM_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost));
}

void copy_device_to_device(void* dst, const void* src, size_t nbytes, int device) {
  TANDEM_CUDA_CHECK(cudaSetDevice(device));
  TANDEM_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToDevice));
}

void synchronize(int device) {
  TANDEM_CUDA_CHECK(cudaSetDevice(device));
  TANDEM_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace tandem::kernels::cuda
