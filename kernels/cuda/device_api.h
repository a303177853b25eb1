// The CUDA runtime calls the framework needs (device count, memory, copies), behind plain C++
// functions so framework code never includes CUDA headers. Built from device_api.cu when the
// CUDA backend is on, from kernels/cuda_stub/ otherwise (where each call explains that tandem
// was built without CUDA). Every CUDA call is checked and reports file:line.
#pragma once

#include <cstddef>

namespace tandem::kernels::cuda {

bool built_with_cuda();
int device_count();  // 0 when built without CUDA or when no device/driver is present
void* malloc_device(size_t nbytes, int device);
void free_device(void* ptr, int device);
void* malloc_pinned(size_t nbytes);  // page-locked host memory for fast copies
void free_pinned(void* ptr);
void copy_host_to_device(void* dst, const void* src, size_t nbytes, int device);
void copy_device_to_host(void* dst, const void* src, size_t nbytes, int device);
void copy_device_to_device(void* dst, const void* src, size_t nbytes, int device);
void synchronize(int device);

}  // namespace tandem::kernels::cuda
