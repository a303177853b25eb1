// libtandem's own source: the kernels, framework and parallel archives are linked into the
// shared library whole (cmake/TandemPackage.cmake); this file is what the library adds.
#include "tandem/version.h"

namespace tandem {

const char* library_version() { return TANDEM_VERSION; }

}  // namespace tandem
