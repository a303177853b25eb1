// CPU softmax / log_softmax and their backward over a contiguous (outer, n, inner) block, i.e.
// along the middle dim. Numerically stable: the row max is subtracted before exp.
#pragma once

#include <cstdint>

namespace tandem::kernels::cpu {

// out = softmax(in) (or log_softmax when `log`) along n. T: float or double.
template <typename T>
void softmax_forward(const T* in, T* out, int64_t outer, int64_t n, int64_t inner, bool log);

// From the forward output y and the incoming gradient g:
//   softmax:     grad_in = y * (g - sum(g * y))
//   log_softmax: grad_in = g - exp(y) * sum(g)
template <typename T>
void softmax_backward(const T* grad, const T* out, T* grad_in, int64_t outer, int64_t n,
                      int64_t inner, bool log);

}  // namespace tandem::kernels::cpu
