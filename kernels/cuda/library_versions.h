// What CUDA stack this process has: the libraries tandem was built with and runs with (CUDA
// runtime and driver, cuBLASLt, cuDNN, cuRAND) and the devices it sees. Every call used
// works without a GPU or a driver, so `tandem --version` can say why no device is usable.
// Built from library_versions.cpp with the CUDA backend, from kernels/cuda_stub/ otherwise.
// NCCL's version lives with the NCCL backend (parallel/library_versions.h).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kernels/common/library_version.h"  // defines: LibraryVersion

namespace tandem::kernels::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;          // "NVIDIA H200"
  size_t total_memory = 0;   // bytes
  int major = 0, minor = 0;  // compute capability
  int multiprocessors = 0;
};

struct CudaReport {
  bool built_with_cuda = false;
  std::vector<LibraryVersion> libraries;  // empty when built without CUDA
  std::vector<DeviceInfo> devices;
  std::string
      no_device_reason;  // why `devices` is empty ("built without CUDA", the driver's error)
};

CudaReport cuda_report();

}  // namespace tandem::kernels::cuda
