// Row-at-a-time arithmetic shared by the CPU kernels (a loop over rows) and the CUDA kernels (a
// thread per row): softmax and log_softmax with their backward along one strided row, the
// first-occurrence max of a row, and one sample of the negative log-likelihood. Written once as
// host+device functions, so the CPU tests cover the arithmetic the GPU runs.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/bad_index.h"
#include "kernels/common/host_device.h"
#include "kernels/common/opmath.h"

namespace tandem::kernels {

template <typename T>
TANDEM_HD bool is_nan_value(T v) {
  return v != v;  // false for integers
}

// The running max of a softmax row (a NaN, once seen, stays), shared with the CUDA kernel that
// spreads a row over a warp.
template <typename T>
TANDEM_HD T softmax_max(T mx, T v) {
  return is_nan_value(v) || v > mx ? v : mx;
}

// y[i * stride] = softmax(x)[i] (log_softmax when `log`) over n elements. The row max is
// subtracted before exp and sums accumulate in double. An infinite max makes the whole row nan
// (inf - inf), as in torch: a row of -inf, or one holding +inf.
template <typename T>
TANDEM_HD void softmax_row(const T* x, T* y, int64_t n, int64_t stride, bool log) {
  T mx = -T(INFINITY);
  for (int64_t i = 0; i < n; ++i) mx = softmax_max(mx, x[i * stride]);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T e = std::exp(x[i * stride] - mx);
    total += double(e);
    if (!log) y[i * stride] = e;
  }
  if (log) {
    const T lse = T(std::log(total));
    for (int64_t i = 0; i < n; ++i) y[i * stride] = x[i * stride] - mx - lse;
  } else {
    const T inv = T(1.0 / total);
    for (int64_t i = 0; i < n; ++i) y[i * stride] *= inv;
  }
}

// From the forward output y and the incoming gradient g:
//   softmax:     grad_in = y * (g - sum(g * y))
//   log_softmax: grad_in = g - exp(y) * sum(g)
template <typename T>
TANDEM_HD void softmax_backward_row(const T* g, const T* y, T* gi, int64_t n, int64_t stride,
                                    bool log) {
  double acc = 0;
  if (log) {
    for (int64_t i = 0; i < n; ++i) acc += double(g[i * stride]);
    for (int64_t i = 0; i < n; ++i)
      gi[i * stride] = g[i * stride] - std::exp(y[i * stride]) * T(acc);
  } else {
    for (int64_t i = 0; i < n; ++i) acc += double(g[i * stride]) * double(y[i * stride]);
    for (int64_t i = 0; i < n; ++i) gi[i * stride] = y[i * stride] * (g[i * stride] - T(acc));
  }
}

// The max of x[i * stride] for i < n (n > 0) and the index of its first occurrence; the first
// NaN wins, as PyTorch.
// float16/bfloat16 compare in float (exact: widening preserves order and NaN).
template <typename T>
TANDEM_HD void max_of_row(const T* x, int64_t n, int64_t stride, T& value, int64_t& index) {
  using M = opmath_t<T>;
  M best = convert_element<T, M>(x[0]);
  int64_t arg = 0;
  for (int64_t i = 1; i < n && !is_nan_value(best); ++i) {
    const M v = convert_element<T, M>(x[i * stride]);
    if (is_nan_value(v) || v > best) {
      best = v;
      arg = i;
    }
  }
  value = x[arg * stride];
  index = arg;
}

// Whether target t takes part in nll (and so receives a gradient): not ignored, and a class (the
// backward skips a bad target, which the forward has reported).
TANDEM_HD bool nll_counts(int64_t t, int64_t c, int64_t ignore_index) {
  return t != ignore_index && index_in_range(t, c);
}

// One sample of nll over log-probabilities lp[class * stride] with target t: the loss
// -w[t] * lp[t] and the sample's weight w[t] (0 for an ignored target; w = 1 without weights).
// A target that is no class of the c is reported (kernels/common/bad_index.h): the host throws;
// a GPU thread records it and counts the sample as ignored until the host reports it.
template <typename T>
TANDEM_HD void nll_sample(const T* lp, int64_t stride, int64_t c, int64_t t, const T* weight,
                          int64_t ignore_index, BadIndexReport* report, T& loss, T& sample_weight) {
  if (!nll_counts(t, c, ignore_index)) {
    if (t != ignore_index) report_bad_index(report, BadIndexKind::Target, t, c);
    loss = T(0);
    sample_weight = T(0);
    return;
  }
  const T w = weight ? weight[t] : T(1);
  loss = -w * lp[t * stride];
  sample_weight = w;
}

}  // namespace tandem::kernels
