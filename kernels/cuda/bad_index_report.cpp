#include "kernels/cuda/bad_index_report.h"

#include <cuda_runtime.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "kernels/cuda/check.h"

namespace tandem::kernels::cuda {
namespace {

std::once_flag allocate_once;
std::atomic<BadIndexReport*> host_report{nullptr};  // null until a kernel has asked for it
BadIndexReport* device_report = nullptr;

void allocate() {
  void* host = nullptr;
  TANDEM_CUDA_CHECK(
      cudaHostAlloc(&host, sizeof(BadIndexReport), cudaHostAllocMapped | cudaHostAllocPortable));
  std::memset(host, 0, sizeof(BadIndexReport));
  void* device = nullptr;
  TANDEM_CUDA_CHECK(cudaHostGetDevicePointer(&device, host, 0));
  device_report = static_cast<BadIndexReport*>(device);
  // Never freed: kernels may hold its address until the process ends.
  host_report.store(static_cast<BadIndexReport*>(host), std::memory_order_release);
}

}  // namespace

BadIndexReport* bad_index_report() {
  std::call_once(allocate_once, allocate);
  return device_report;
}

void throw_reported_bad_index() {
  if (BadIndexReport* r = host_report.load(std::memory_order_acquire))
    kernels::throw_reported_bad_index(*r);
}

}  // namespace tandem::kernels::cuda
