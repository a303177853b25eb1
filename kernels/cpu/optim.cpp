// Fused optimizer loops.
#include "kernels/cpu/optim.h"

namespace tandem::kernels::cpu {

template <typename T>
void sgd_step(T* p, const T* g, T* buf, int64_t n, const SgdParams& s) {
  for (int64_t i = 0; i < n; ++i) sgd_update<T>(p[i], g[i], buf ? buf + i : nullptr, s);
}

template <typename T>
void adam_step(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamParams& a) {
  for (int64_t i = 0; i < n; ++i)
    adam_update<T>(p[i], g[i], m[i], v[i], vmax ? vmax + i : nullptr, a);
}

template void sgd_step<float>(float*, const float*, float*, int64_t, const SgdParams&);
template void sgd_step<double>(double*, const double*, double*, int64_t, const SgdParams&);
template void adam_step<float>(float*, const float*, float*, float*, float*, int64_t,
                               const AdamParams&);
template void adam_step<double>(double*, const double*, double*, double*, double*, int64_t,
                                const AdamParams&);

}  // namespace tandem::kernels::cpu
