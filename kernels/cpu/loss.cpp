// CPU negative log-likelihood (see loss.h).
#include "kernels/cpu/loss.h"

namespace tandem::kernels::cpu {

template <typename T>
void nll_forward(const T* lp, const int64_t* target, const T* weight, int64_t n, int64_t c,
                 int64_t inner, int64_t ignore_index, T* loss, T* sample_weight) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < inner; ++j) {
      const int64_t s = i * inner + j;
      const int64_t t = target[s];
      if (t == ignore_index) {
        loss[s] = T(0);
        sample_weight[s] = T(0);
        continue;
      }
      const T w = weight ? weight[t] : T(1);
      loss[s] = -w * lp[(i * c + t) * inner + j];
      sample_weight[s] = w;
    }
}

template <typename T>
void nll_backward(const T* grad, const int64_t* target, const T* weight, int64_t n, int64_t c,
                  int64_t inner, int64_t ignore_index, T* grad_in) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < inner; ++j) {
      const int64_t s = i * inner + j;
      const int64_t t = target[s];
      if (t == ignore_index) continue;
      grad_in[(i * c + t) * inner + j] = -(weight ? weight[t] : T(1)) * grad[s];
    }
}

template void nll_forward<float>(const float*, const int64_t*, const float*, int64_t, int64_t,
                                 int64_t, int64_t, float*, float*);
template void nll_forward<double>(const double*, const int64_t*, const double*, int64_t, int64_t,
                                  int64_t, int64_t, double*, double*);
template void nll_backward<float>(const float*, const int64_t*, const float*, int64_t, int64_t,
                                  int64_t, int64_t, float*);
template void nll_backward<double>(const double*, const int64_t*, const double*, int64_t, int64_t,
                                   int64_t, int64_t, double*);

}  // namespace tandem::kernels::cpu
