// The BLAS tandem's CPU GEMMs run on (OpenBLAS), as built and as loaded, for `tandem --version`.
#pragma once

#include "kernels/common/library_version.h"  // defines: LibraryVersion

namespace tandem::kernels::cpu {

// OpenBLAS: built = OPENBLAS_VERSION of openblas_config.h; running = openblas_get_config()
// (version, build options, the core it picked for this CPU) and its thread count.
LibraryVersion openblas_version();

}  // namespace tandem::kernels::cpu
