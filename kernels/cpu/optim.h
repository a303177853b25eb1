// Fused CPU optimizer passes over one contiguous parameter (see kernels/common/optim_functors.h).
#pragma once

#include <cstdint>

#include "kernels/common/optim_functors.h"

namespace tandem::kernels::cpu {

template <typename T>
void sgd_step(T* p, const T* g, T* buf, int64_t n, const SgdParams& s);

template <typename T>
void adam_step(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamParams& a);

}  // namespace tandem::kernels::cpu
