// NCCL's version in a build without CUDA: not built in.
#include "parallel/library_versions.h"

namespace tandem::parallel {

kernels::LibraryVersion nccl_version() { return {"NCCL", "-", "not built in (no CUDA)", ""}; }

}  // namespace tandem::parallel
