// CPU negative log-likelihood over log-probabilities laid out as a contiguous (n, c, inner)
// block (class dim in the middle) with int64 class targets of shape (n, inner). Targets equal
// to ignore_index contribute nothing and have weight 0; other targets must lie in [0, c).
#pragma once

#include <cstdint>

namespace tandem::kernels::cpu {

// loss[s] = -w[t_s] * lp[s, t_s] and sample_weight[s] = w[t_s] (w = 1 when weight is null).
template <typename T>
void nll_forward(const T* lp, const int64_t* target, const T* weight, int64_t n, int64_t c,
                 int64_t inner, int64_t ignore_index, T* loss, T* sample_weight);

// grad_in[s, t_s] = -w[t_s] * grad[s], with grad_in zeroed by the caller.
template <typename T>
void nll_backward(const T* grad, const int64_t* target, const T* weight, int64_t n, int64_t c,
                  int64_t inner, int64_t ignore_index, T* grad_in);

}  // namespace tandem::kernels::cpu
