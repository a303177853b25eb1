// See threads.h.
#include "kernels/cpu/threads.h"

#include <cblas.h>  // defines: openblas_set_num_threads

#include <atomic>

#if defined(_OPENMP)
#include <omp.h>
#elif TANDEM_WITH_ONEDNN
extern "C" void omp_set_num_threads(int);  // libgomp, oneDNN's threading runtime
extern "C" int omp_get_max_threads();
#endif

namespace tandem::kernels::cpu {
namespace {
std::atomic<int> process_threads{0};  // 0: never set
thread_local bool one_cpu_here = false;
}  // namespace

void set_cpu_threads(int threads) {
  if (threads < 1) threads = 1;
  process_threads.store(threads, std::memory_order_relaxed);
  openblas_set_num_threads(threads);
#if defined(_OPENMP) || TANDEM_WITH_ONEDNN
  omp_set_num_threads(threads);
#endif
}

int cpu_threads() {
#if defined(_OPENMP)
  if (one_cpu_here) return 1;
  const int n = process_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : omp_get_max_threads();
#else
  return 1;
#endif
}

void limit_this_thread_to_one_cpu() { one_cpu_here = true; }

int openmp_threads_here() {
#if defined(_OPENMP) || TANDEM_WITH_ONEDNN
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void set_openmp_threads_here(int threads) {
#if defined(_OPENMP) || TANDEM_WITH_ONEDNN
  omp_set_num_threads(threads);
#else
  (void)threads;
#endif
}

}  // namespace tandem::kernels::cpu
