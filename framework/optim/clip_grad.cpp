// Gradient clipping (see clip_grad.h).
#include "framework/optim/clip_grad.h"

#include <cmath>

#include "framework/autograd/grad_mode.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduction.h"
#include "framework/ops/shape_ops.h"

namespace tandem::optim {

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;
  // Each gradient's part of the norm stays on its device and only the total is read back: one
  // synchronisation per call on a GPU, not one per parameter.
  std::vector<Tensor> parts;
  parts.reserve(grads.size());
  double total = 0;
  if (std::isinf(norm_type)) {
    for (const auto& g : grads) parts.push_back(amax(abs(g.to(DType::Float64)), {}));
    total = amax(stack(parts), {}).item();
  } else {
    for (const auto& g : grads) parts.push_back(sum(pow(abs(g.to(DType::Float64)), norm_type)));
    total = std::pow(sum(stack(parts)).item(), 1.0 / norm_type);
  }
  if (error_if_nonfinite && !std::isfinite(total))
    TANDEM_FAIL(
        "The total norm of order ", norm_type,
        " for gradients from `parameters` is non-finite, so it cannot be clipped. To disable this "
        "error and "
        "scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`");
  const double coef = std::min(1.0, max_norm / (total + 1e-6));
  for (auto& g : grads) {
    Tensor gg = g;
    gg.mul_(coef);
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
