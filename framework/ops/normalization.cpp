// batch_norm (see normalization.h): statistics, running-stat update and autograd here; the
// loops are in kernels/cpu/batch_norm.
#include "framework/ops/normalization.h"

#include <cmath>
#include <vector>

#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/tensor/factories.h"
#include "kernels/cpu/batch_norm.h"

namespace tandem {

using autograd::record;
using autograd::TensorList;

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  TANDEM_CHECK(input.dim() >= 2, "batch_norm: expected at least 2-D input (N, C, ...), got ",
               shape_str(input.sizes()));
  TANDEM_CHECK(input.device().is_cpu(), "batch_norm: CPU tensors only for now");
  const int64_t N = input.size(0), C = input.size(1),
                S = input.numel() / std::max<int64_t>(1, N * C);
  for (const Tensor* t : {&running_mean, &running_var, &weight, &bias})
    if (t->defined())
      TANDEM_CHECK(t->numel() == C, "batch_norm: expected a per-channel tensor of ", C,
                   " values, got ", shape_str(t->sizes()));
  const bool use_batch_stats = training || !running_mean.defined() || !running_var.defined();
  if (use_batch_stats && N * S <= 1)
    TANDEM_FAIL("Expected more than 1 value per channel when training, got input size ",
                torch_size_str(input.sizes()));
  const Tensor x = input.contiguous();
  Tensor stats = empty({2, C}, DType::Float64);  // row 0: mean, row 1: invstd
  double* mean = stats.data_ptr<double>();
  double* invstd = mean + C;
  std::vector<double> var(static_cast<size_t>(C));
  Tensor y = empty(x.sizes(), x.dtype());
  const Tensor w = weight.defined() ? weight.contiguous() : Tensor();
  const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  dispatch_floating(x.dtype(), "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (use_batch_stats) {
      kernels::cpu::batch_norm_stats<T>(x.data_ptr<T>(), N, C, S, mean, var.data());
      for (int64_t c = 0; c < C; ++c) invstd[c] = 1.0 / std::sqrt(var[size_t(c)] + eps);
    } else {
      const std::vector<double> rm = running_mean.to_vector(), rv = running_var.to_vector();
      for (int64_t c = 0; c < C; ++c) {
        mean[c] = rm[size_t(c)];
        invstd[c] = 1.0 / std::sqrt(rv[size_t(c)] + eps);
      }
    }
    kernels::cpu::batch_norm_apply<T>(x.data_ptr<T>(), N, C, S, mean, invstd,
                                      w.defined() ? w.data_ptr<T>() : nullptr,
                                      b.defined() ? b.data_ptr<T>() : nullptr, y.data_ptr<T>());
  });
  if (training && running_mean.defined() && running_var.defined()) {
    // new = (1 - momentum) * old + momentum * batch, with the unbiased variance (reference §6.1).
    NoGradGuard no_grad;
    const double n = double(N * S);
    std::vector<double> unbiased(static_cast<size_t>(C)), batch_mean(mean, mean + C);
    for (int64_t c = 0; c < C; ++c) unbiased[size_t(c)] = var[size_t(c)] * n / (n - 1);
    Tensor rm = running_mean, rv = running_var;
    rm.mul_(1 - momentum).add_(from_vector(batch_mean, {C}, rm.dtype()), momentum);
    rv.mul_(1 - momentum).add_(from_vector(unbiased, {C}, rv.dtype()), momentum);
  }
  const bool train_grad = use_batch_stats;
  record("NativeBatchNormBackward0", {input, weight, bias}, {y}, {x, w, stats},
         [N, C, S, train_grad](const TensorList& g, const TensorList& s) {
           const Tensor gy = g[0].contiguous();
           const Tensor& xs = s[0];
           const Tensor& ws = s[1];
           const double* mean = s[2].data_ptr<double>();
           const double* invstd = mean + C;
           Tensor gx = empty(xs.sizes(), xs.dtype());
           std::vector<double> sum_gy(static_cast<size_t>(C)), sum_gy_xhat(static_cast<size_t>(C));
           dispatch_floating(xs.dtype(), "batch_norm_backward", [&](auto tag) {
             using T = typename decltype(tag)::type;
             kernels::cpu::batch_norm_backward<T>(xs.data_ptr<T>(), gy.data_ptr<T>(), N, C, S, mean,
                                                  invstd, ws.defined() ? ws.data_ptr<T>() : nullptr,
                                                  train_grad, gx.data_ptr<T>(), sum_gy.data(),
                                                  sum_gy_xhat.data());
           });
           const DType dt = xs.dtype();
           return TensorList{gx, ws.defined() ? from_vector(sum_gy_xhat, {C}, dt) : Tensor(),
                             from_vector(sum_gy, {C}, dt)};
         });
  return y;
}

}  // namespace tandem
