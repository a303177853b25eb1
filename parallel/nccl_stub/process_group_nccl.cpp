// The NCCL backend when tandem is built without CUDA/NCCL: it says so.
#include "parallel/process_group_nccl.h"

#include "kernels/common/error.h"

namespace tandem::parallel {

bool nccl_available() { return false; }

std::shared_ptr<ProcessGroup> make_process_group_nccl(ProcessGroup&, Device) {
  throw Error("the NCCL backend is not available: tandem was built without CUDA/NCCL",
              "rebuild with the CUDA toolkit and NCCL installed (cmake -DTANDEM_CUDA=ON), or use "
              "distributed.backend: mpi");
}

}  // namespace tandem::parallel
