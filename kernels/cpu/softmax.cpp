// CPU softmax / log_softmax and their backward along the middle dim of (outer, n, inner).
// Numerically stable (the row max is subtracted before exp); sums accumulate in double.
#include "kernels/cpu/register.h"

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

void softmax_forward_cpu(const KernelContext&, const Slab& s, bool log, const Buffer& in,
                         const Buffer& out) {
  dispatch_floating(in.dtype, log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    softmax_forward<T>(in.as<const T>(), out.as<T>(), s.outer, s.n, s.inner, log);
  });
}

void softmax_backward_cpu(const KernelContext&, const Slab& s, bool log, const Buffer& grad,
                          const Buffer& out, const Buffer& grad_in) {
  dispatch_floating(grad.dtype, "softmax_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    softmax_backward<T>(grad.as<const T>(), out.as<const T>(), grad_in.as<T>(), s.outer, s.n,
                        s.inner, log);
  });
}

TANDEM_REGISTER_CPU_KERNEL(softmax_forward, softmax_forward_cpu);
TANDEM_REGISTER_CPU_KERNEL(softmax_backward, softmax_backward_cpu);

}  // namespace tandem::kernels::cpu
