// The CPU kernels' thread count: tandem's own kernels (parallel_for.h), OpenBLAS's pool and, when
// built with oneDNN, OpenMP's (oneDNN's runtime). Under mpirun each rank gets training.threads of
// each, so ranks do not oversubscribe the cores they are bound to.
#pragma once

namespace tandem::kernels::cpu {

// Sets all three for the whole process: tandem's kernels and OpenBLAS read one process-wide
// count; OpenMP's is a per-thread setting, set here for the calling thread (the one that trains).
void set_cpu_threads(int threads);

// The threads a tandem CPU kernel called on this thread may use: 1 on a thread that called
// limit_this_thread_to_one_cpu(), else set_cpu_threads()'s count, else (never set) OpenMP's
// default for the process (OMP_NUM_THREADS, else the cores it may run on). 1 without OpenMP.
int cpu_threads();

// Keeps the calling thread's tandem kernels on that thread, whatever set_cpu_threads() says: for
// helper threads (the data loader's prefetcher) whose work must not take the compute threads.
void limit_this_thread_to_one_cpu();

// The calling thread's OpenMP thread count (OpenMP's per-thread setting; 1 without OpenMP), and
// setting it: the emulated device's stream threads run each kernel with the count of the thread
// that launched it, so OpenBLAS and oneDNN split the work, and round, as they would have there.
int openmp_threads_here();
void set_openmp_threads_here(int threads);

}  // namespace tandem::kernels::cpu
