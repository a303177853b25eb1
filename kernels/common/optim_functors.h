// Per-element optimizer updates, written once as host+device functions: the CPU kernels
// (kernels/cpu/optim.cpp) apply them in one fused pass per parameter, and a CUDA kernel can
// apply the same arithmetic. Formulas follow torch/optim/sgd.py and adam.py (_single_tensor_*).
#pragma once

#include <cmath>

#include "kernels/common/host_device.h"

namespace tandem::kernels {

struct SgdParams {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize, first_step;  // first_step: the momentum buffer starts as a copy of g
  // Each tensor op's x + alpha * y rounded once (PyTorch's AVX2 CPU build, whose add kernel is
  // an fmadd) rather than twice (its default build): framework/tensor/aten_cpu_path.h.
  bool fused = false;
  bool operator==(const SgdParams&) const = default;
};

// a * b + c, rounded once when `fused`.
template <typename T>
TANDEM_HD T mul_add(T a, T b, T c, bool fused) {
  return fused ? std::fma(a, b, c) : a * b + c;
}

// Updates p (and the momentum buffer buf, when momentum != 0) from gradient g, as the tensor ops
// of torch/optim/sgd.py's _single_tensor_sgd: d_p.add(p, alpha=wd), buf.mul_(momentum).add_(d_p,
// alpha=1 - dampening), d_p.add(buf, alpha=momentum), p.add_(d_p, alpha=-lr).
template <typename T>
TANDEM_HD void sgd_update(T& p, T g, T* buf, const SgdParams& s) {
  if (s.maximize) g = -g;
  if (s.weight_decay != 0) g = mul_add(p, T(s.weight_decay), g, s.fused);
  if (s.momentum != 0) {
    T b = s.first_step ? g : mul_add(g, T(1 - s.dampening), *buf * T(s.momentum), s.fused);
    *buf = b;
    g = s.nesterov ? mul_add(b, T(s.momentum), g, s.fused) : b;
  }
  p = mul_add(g, -T(s.lr), p, s.fused);
}

struct AdamParams {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize, decoupled;  // decoupled: AdamW's p *= 1 - lr * wd
  double step_size;                   // lr / (1 - beta1^t), computed in double as PyTorch
  double bias_correction2_sqrt;       // sqrt(1 - beta2^t)
  bool fused = false;                 // as SgdParams::fused
  bool operator==(const AdamParams&) const = default;
};

// The tensor ops of torch/optim/adam.py's and adamw.py's _single_tensor_adam(w) in PyTorch 1.13:
// grad.add(p, alpha=wd) or p.mul_(1 - lr * wd); exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1);
// exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2) (self + value * g * g, whose last
// product the AVX2 build fuses too); denom = sqrt(v) / sqrt(1 - beta2^t) + eps; and
// p.addcdiv_(exp_avg, denom, value=-step_size) (self + value * m / denom, never fused).
template <typename T>
TANDEM_HD void adam_update(T& p, T g, T& m, T& v, T* vmax, const AdamParams& a) {
  if (a.maximize) g = -g;
  if (a.weight_decay != 0) {
    if (a.decoupled)
      p = p * T(1 - a.lr * a.weight_decay);
    else
      g = mul_add(p, T(a.weight_decay), g, a.fused);
  }
  m = mul_add(g, T(1 - a.beta1), m * T(a.beta1), a.fused);
  v = mul_add(T(1 - a.beta2) * g, g, v * T(a.beta2), a.fused);
  T second = v;
  if (a.amsgrad) {
    if (v > *vmax) *vmax = v;
    second = *vmax;
  }
  const T denom = std::sqrt(second) / T(a.bias_correction2_sqrt) + T(a.eps);
  p = p + T(-a.step_size) * m / denom;
}

}  // namespace tandem::kernels
