// See threads.h.
#include "kernels/cpu/threads.h"

#include <cblas.h>  // defines: openblas_set_num_threads

#if TANDEM_WITH_ONEDNN
extern "C" void omp_set_num_threads(int);  // libgomp, oneDNN's threading runtime
#endif

namespace tandem::kernels::cpu {

void set_cpu_threads(int threads) {
  openblas_set_num_threads(threads);
#if TANDEM_WITH_ONEDNN
  omp_set_num_threads(threads);
#endif
}

}  // namespace tandem::kernels::cpu
