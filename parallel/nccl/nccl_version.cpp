// NCCL's version (see parallel/library_versions.h); ncclGetVersion needs no GPU.
#include <nccl.h>  // defines: ncclGetVersion, NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH

#include "parallel/library_versions.h"

namespace tandem::parallel {

kernels::LibraryVersion nccl_version() {
  kernels::LibraryVersion v{"NCCL", kernels::dotted(NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH), "unknown",
                            kernels::loaded_from(&ncclGetVersion)};
  int n = 0;  // 10000 * major + 100 * minor + patch since NCCL 2.9
  if (ncclGetVersion(&n) == ncclSuccess)
    v.running = kernels::dotted(n / 10000, n / 100 % 100, n % 100);
  return v;
}

}  // namespace tandem::parallel
