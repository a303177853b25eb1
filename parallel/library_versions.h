// The communication libraries' versions, as built and as loaded, for `tandem --version`: MPI
// (library_versions.cpp) and NCCL (nccl/nccl_version.cpp, or nccl_stub/ without CUDA). Neither
// initialises MPI or NCCL, so they work outside mpirun and without a GPU.
#pragma once

#include "kernels/common/library_version.h"  // defines: LibraryVersion

namespace tandem::parallel {

// built: the implementation's version macros (Open MPI's OMPI_*_VERSION) and the MPI standard
// version; running: MPI_Get_library_version's first line.
kernels::LibraryVersion mpi_version();
// built: NCCL_MAJOR.NCCL_MINOR.NCCL_PATCH; running: ncclGetVersion.
kernels::LibraryVersion nccl_version();

}  // namespace tandem::parallel
