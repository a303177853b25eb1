// The CUDA report of a build without the CUDA backend: no libraries, no devices, and why.
#include "kernels/cuda/library_versions.h"

namespace tandem::kernels::cuda {

CudaReport cuda_report() {
  CudaReport r;
  r.no_device_reason = "tandem was built without CUDA (TANDEM_CUDA=OFF or no CUDA toolkit)";
  return r;
}

}  // namespace tandem::kernels::cuda
