// CPU softmax / log_softmax (see softmax.h). Sums accumulate in double.
#include "kernels/cpu/softmax.h"

#include <cmath>
#include <limits>

namespace tandem::kernels::cpu {

template <typename T>
void softmax_forward(const T* in, T* out, int64_t outer, int64_t n, int64_t inner, bool log) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      const T* x = in + o * n * inner + j;
      T* y = out + o * n * inner + j;
      T mx = -std::numeric_limits<T>::infinity();
      for (int64_t i = 0; i < n; ++i)
        mx = std::isnan(x[i * inner]) || x[i * inner] > mx ? x[i * inner] : mx;
      // An all -inf row would give inf - inf; shift by 0 instead so the result is nan as torch.
      if (std::isinf(mx)) mx = T(0);
      double total = 0;
      for (int64_t i = 0; i < n; ++i) {
        const T e = std::exp(x[i * inner] - mx);
        total += double(e);
        if (!log) y[i * inner] = e;
      }
      if (log) {
        const T lse = T(std::log(total));
        for (int64_t i = 0; i < n; ++i) y[i * inner] = x[i * inner] - mx - lse;
      } else {
        const T inv = T(1.0 / total);
        for (int64_t i = 0; i < n; ++i) y[i * inner] *= inv;
      }
    }
  }
}

template <typename T>
void softmax_backward(const T* grad, const T* out, T* grad_in, int64_t outer, int64_t n,
                      int64_t inner, bool log) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      const int64_t base = o * n * inner + j;
      const T* g = grad + base;
      const T* y = out + base;
      T* gi = grad_in + base;
      double acc = 0;
      if (log) {
        for (int64_t i = 0; i < n; ++i) acc += double(g[i * inner]);
        for (int64_t i = 0; i < n; ++i)
          gi[i * inner] = g[i * inner] - std::exp(y[i * inner]) * T(acc);
      } else {
        for (int64_t i = 0; i < n; ++i) acc += double(g[i * inner]) * double(y[i * inner]);
        for (int64_t i = 0; i < n; ++i) gi[i * inner] = y[i * inner] * (g[i * inner] - T(acc));
      }
    }
  }
}

template void softmax_forward<float>(const float*, float*, int64_t, int64_t, int64_t, bool);
template void softmax_forward<double>(const double*, double*, int64_t, int64_t, int64_t, bool);
template void softmax_backward<float>(const float*, const float*, float*, int64_t, int64_t, int64_t,
                                      bool);
template void softmax_backward<double>(const double*, const double*, double*, int64_t, int64_t,
                                       int64_t, bool);

}  // namespace tandem::kernels::cpu
