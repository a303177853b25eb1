// Gradient clipping (see clip_grad.h).
#include "framework/optim/clip_grad.h"

#include <cmath>

#include "framework/autograd/grad_mode.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduction.h"
#include "framework/ops/shape_ops.h"
#include "framework/tensor/factories.h"

namespace tandem::optim {

Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return scalar_tensor(0.0, TensorOptions(DType::Float32));
  // Each gradient's part of the norm (on the first gradient's device, as PyTorch), the total and
  // the scaling factor stay on the device. Norms as torch.linalg.vector_norm: inf and -inf take
  // the largest and smallest |g|, 0 counts non-zeros (and the total, the non-zero counts); other
  // orders sum |g|^p over everything before the root, which is the norm of the per-tensor norms.
  const Device home = grads[0].device();
  auto largest = [](const Tensor& x) { return amax(x, {}); };
  auto smallest = [](const Tensor& x) { return -amax(-x, {}); };
  auto nonzeros = [](const Tensor& x) {
    return sum(ne(x, scalar_tensor(0.0, TensorOptions(x.dtype(), x.device())))).to(DType::Float64);
  };
  std::vector<Tensor> parts;
  parts.reserve(grads.size());
  Tensor total;
  if (std::isinf(norm_type)) {
    const auto extreme = norm_type > 0 ? +largest : +smallest;
    for (const auto& g : grads) parts.push_back(extreme(abs(g.to(DType::Float64))).to(home));
    total = extreme(stack(parts));
  } else if (norm_type == 0) {
    for (const auto& g : grads) parts.push_back(nonzeros(g).to(home));
    total = nonzeros(stack(parts));
  } else {
    for (const auto& g : grads)
      parts.push_back(sum(pow(abs(g.to(DType::Float64)), norm_type)).to(home));
    total = pow(sum(stack(parts)), 1.0 / norm_type);
  }
  // The norm is accumulated in float64 here; PyTorch returns it, and computes the scaling factor,
  // in the gradients' type (the first one's, as a stack of the per-tensor norms promotes).
  DType dt = grads[0].dtype();
  for (const auto& g : grads) dt = promote_types(dt, g.dtype());
  total = total.to(dt);
  if (error_if_nonfinite && !std::isfinite(total.item()))
    TANDEM_FAIL(
        "The total norm of order ", norm_type,
        " for gradients from `parameters` is non-finite, so it cannot be clipped. To disable this "
        "error and "
        "scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`");
  const Tensor coef = clamp(max_norm / (total + 1e-6), std::nullopt, 1.0);  // in dt, as PyTorch
  Tensor coef_as = coef;  // converted once per gradient device and dtype met in a row
  for (auto& g : grads) {
    if (coef_as.device() != g.device() || coef_as.dtype() != g.dtype())
      coef_as = coef.to(g.device(), g.dtype());
    Tensor gg = g;
    gg.mul_(coef_as);
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  NoGradGuard no_grad;
  for (const auto& p : params)
    if (p.grad().defined()) {
      Tensor g = p.grad();
      g.clamp_(-clip_value, clip_value);
    }
}

}  // namespace tandem::optim
