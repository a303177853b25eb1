// The text of `tandem --version`: the build (version, commit, build type), the versions of CUDA,
// cuBLAS, cuBLASLt, cuDNN, cuRAND, NCCL, OpenBLAS and MPI tandem was built with and runs with
// (and the file each was loaded from), and the CUDA devices this process sees, or why none
// (under TANDEM_EMULATE_CUDA, the emulated devices first).
// Nothing here needs a GPU, a driver or mpirun, and nothing throws for their absence.
#pragma once

#include <string>

#include "launch/build_info.h"  // defines: BuildInfo

namespace tandem::launch {

std::string version_report(const BuildInfo& build);

}  // namespace tandem::launch
