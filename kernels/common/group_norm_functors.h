// The per-row and per-element formulas of group and layer normalisation (layout: GroupNormLayout,
// kernels/common/kernel_params.h), written once as host+device functions for the CPU kernels
// (kernels/cpu/group_norm.cpp) and the CUDA kernels (kernels/cuda/group_norm.cu). The sums over
// a row or a channel are each backend's own, in double, in a fixed order. The normalisation of one
// channel is batch normalisation's (batch_norm_functors.h): x * scale + shift with the statistics
// and the channel's weight and bias folded into the two constants, as PyTorch's group norm kernel.
#pragma once

#include <cmath>

#include "kernels/common/batch_norm_functors.h"
#include "kernels/common/host_device.h"

namespace tandem::kernels {

// 1 / sqrt(var + eps) from a row's biased variance, as PyTorch's rstd.
TANDEM_HD double group_norm_invstd(double var, double eps) { return 1.0 / sqrt(var + eps); }

// The input gradient of one row of d elements, gx = invstd * w * gy + b * (x - mean) + k, from
// the row's sums sum(w * gy) and sum(w * gy * (x - mean)) (w: each element's channel weight, 1
// without one): PyTorch's  invstd / d * (d * w * gy - sum(w * gy) - xhat * sum(w * gy * xhat)).
struct GroupNormGrad {
  double invstd, b, k;
};

TANDEM_HD GroupNormGrad group_norm_grad(double invstd, double sum_wgy, double sum_wgy_xmu,
                                        double d) {
  return {invstd, -invstd * invstd * invstd * sum_wgy_xmu / d, -invstd * sum_wgy / d};
}

template <typename T>
TANDEM_HD T group_norm_grad_input(const GroupNormGrad& c, double w, T gy, T x, double mean) {
  return T(c.invstd * w * double(gy) + c.b * (double(x) - mean) + c.k);
}

}  // namespace tandem::kernels
