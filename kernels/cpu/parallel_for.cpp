// See parallel_for.h.
#include "kernels/cpu/parallel_for.h"

#include <exception>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace tandem::kernels::cpu::detail {

void run_chunks(int64_t begin, int64_t end, int64_t grain, ChunkFn fn, const void* closure) {
  const int64_t n = end - begin;
#if defined(_OPENMP)
  grain = std::max<int64_t>(grain, 1);
  const int threads = int(std::min<int64_t>(cpu_threads(), (n + grain - 1) / grain));
  if (threads > 1 && !omp_in_parallel()) {
    std::exception_ptr error;
#pragma omp parallel num_threads(threads)
    {
      // One contiguous chunk per thread of the team (which may be smaller than asked for).
      const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
      const int64_t chunk = (n + nt - 1) / nt;
      const int64_t b = begin + t * chunk, e = std::min(end, b + chunk);
      if (b < e) {
        try {
          fn(closure, b, e);
        } catch (...) {
#pragma omp critical(tandem_parallel_for_error)
          if (!error) error = std::current_exception();
        }
      }
    }
    if (error) std::rethrow_exception(error);
    return;
  }
#endif
  (void)n;
  (void)grain;
  fn(closure, begin, end);
}

}  // namespace tandem::kernels::cpu::detail
