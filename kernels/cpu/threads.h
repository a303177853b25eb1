// The CPU kernels' thread count: OpenBLAS's pool and, when built with oneDNN, OpenMP's (oneDNN's
// runtime). Under mpirun each rank gets training.threads of both, so ranks do not oversubscribe
// the cores they are bound to.
#pragma once

namespace tandem::kernels::cpu {

// Sets both pools for the calling thread and the threads it starts later (OpenMP's count is a
// per-thread setting; OpenBLAS's is global).
void set_cpu_threads(int threads);

}  // namespace tandem::kernels::cpu
