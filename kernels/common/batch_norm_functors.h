// The per-channel and per-element formulas of batch normalisation, written once as host+device
// functions for the CPU kernels (kernels/cpu/batch_norm.cpp) and the CUDA kernels
// (kernels/cuda/batch_norm.cu). The statistics themselves (sums over a channel) are each
// backend's own: 8 partial sums per run on the CPU, a fixed-shape block tree on the GPU, both in
// double.
#pragma once

#include <cstdint>

#include "kernels/common/host_device.h"

namespace tandem::kernels {

// y = x * scale + shift for one channel: the normalisation (x - mean) * invstd and the optional
// affine weight w and bias b folded into two constants, computed in double and rounded to T.
template <typename T>
struct BatchNormAffine {
  T scale, shift;
};

// w, b: the channel's weight and bias, or null when absent.
template <typename T>
TANDEM_HD BatchNormAffine<T> batch_norm_affine(double mean, double invstd, const T* w, const T* b) {
  const double wc = w ? double(*w) : 1.0;
  return {T(invstd * wc), T((b ? double(*b) : 0.0) - mean * invstd * wc)};
}

template <typename T>
TANDEM_HD T batch_norm_normalize(const BatchNormAffine<T>& f, T x) {
  return x * f.scale + f.shift;
}

// The input gradient of one channel, gx = w * invstd / n * (n * gy - sum_gy - xhat *
// sum_gy_xhat) in training and w * invstd * gy with fixed (eval) statistics, folded into
// gx = a * gy + b * (x - mean) + k. sum_gy_xhat is sum(gy * (x - mean)) * invstd.
struct BatchNormGrad {
  double a, b, k;
};

TANDEM_HD BatchNormGrad batch_norm_grad(double w, double invstd, double sum_gy, double sum_gy_xhat,
                                        double n, bool train) {
  const double a = w * invstd;
  return {a, train ? -a * invstd * sum_gy_xhat / n : 0.0, train ? -a * sum_gy / n : 0.0};
}

template <typename T>
TANDEM_HD T batch_norm_grad_input(const BatchNormGrad& c, T gy, T x, double mean) {
  return T(c.a * double(gy) + c.b * (double(x) - mean) + c.k);
}

}  // namespace tandem::kernels
