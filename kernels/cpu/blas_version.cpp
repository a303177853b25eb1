// OpenBLAS version probe (see blas_version.h).
#include "kernels/cpu/blas_version.h"

#include <cblas.h>  // defines: openblas_get_config, openblas_get_num_threads, OPENBLAS_VERSION

namespace tandem::kernels::cpu {
namespace {
// OPENBLAS_VERSION is " OpenBLAS 0.3.21 ": keep the number.
std::string trimmed_version(std::string s) {
  const auto first = s.find_first_of("0123456789");
  if (first == std::string::npos) return s;
  s = s.substr(first);
  return s.substr(0, s.find_last_not_of(' ') + 1);
}
}  // namespace

LibraryVersion openblas_version() {
  LibraryVersion v;
  v.name = "OpenBLAS";
#ifdef OPENBLAS_VERSION
  v.built = trimmed_version(OPENBLAS_VERSION);
#else
  v.built = "unknown";
#endif
  // "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64" -> "0.3.21 (DYNAMIC_ARCH
  // NO_AFFINITY Haswell MAX_THREADS=64, 2 threads)": the version first, as in the built column.
  std::string config = openblas_get_config() ? openblas_get_config() : "unknown";
  if (config.rfind("OpenBLAS ", 0) == 0) config = config.substr(9);
  const auto space = config.find(' ');
  const std::string threads = std::to_string(openblas_get_num_threads()) + " threads";
  v.running = space == std::string::npos ? config + " (" + threads + ")"
                                         : config.substr(0, space) + " (" +
                                               config.substr(space + 1) + ", " + threads + ")";
  v.location = loaded_from(&openblas_get_config);
  return v;
}

}  // namespace tandem::kernels::cpu
