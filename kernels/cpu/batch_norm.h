// Batch normalisation over (N, C, S) laid out contiguously (S = spatial size, 1 for (N, C)):
// per-channel statistics, the normalisation, and the fused backward of PyTorch's CPU kernel.
#pragma once

#include <cstdint>

namespace tandem::kernels::cpu {

// mean[c] and biased var[c] over N*S values of channel c (double accumulation).
template <typename T>
void batch_norm_stats(const T* x, int64_t N, int64_t C, int64_t S, double* mean, double* var);

// y = (x - mean) * invstd * w + b, per channel (w/b may be null: 1 and 0).
template <typename T>
void batch_norm_apply(const T* x, int64_t N, int64_t C, int64_t S, const double* mean,
                      const double* invstd, const T* w, const T* b, T* y);

// Training-mode backward: gx = w*invstd/n * (n*gy - sum(gy) - xhat*sum(gy*xhat)); also returns
// sum(gy) (bias grad) and sum(gy*xhat) (weight grad). With `train` false the statistics were
// constants: gx = gy * w * invstd.
template <typename T>
void batch_norm_backward(const T* x, const T* gy, int64_t N, int64_t C, int64_t S,
                         const double* mean, const double* invstd, const T* w, bool train, T* gx,
                         double* sum_gy, double* sum_gy_xhat);

}  // namespace tandem::kernels::cpu
