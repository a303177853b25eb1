// batch_norm (see normalization.h): running-stat update and autograd here; statistics, the
// normalisation and the backward are the batch_norm kernel families.
#include "framework/ops/normalization.h"

#include <cmath>
#include <vector>

#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/ops/elementwise.h"
#include "framework/tensor/factories.h"
#include "framework/tensor/kernel_args.h"
#include "kernels/kernel_table.h"

namespace tandem {

using autograd::record;
using autograd::TensorList;

namespace {

// An empty batch, as PyTorch's _batch_norm_impl_index: no statistics (the running ones stay as
// they are) and an empty output still connected to weight and bias, whose gradients are zeros.
Tensor batch_norm_of_empty(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  Shape per_channel(size_t(input.dim()), 1);
  per_channel[1] = input.size(1);
  Tensor y = input.clone();
  if (weight.defined()) y = y * weight.to(input.dtype()).reshape(per_channel);
  if (bias.defined()) y = y + bias.to(input.dtype()).reshape(per_channel);
  return y;
}

}  // namespace

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  TANDEM_CHECK(input.dim() >= 2, "batch_norm: expected at least 2-D input (N, C, ...), got ",
               shape_str(input.sizes()));
  check_same_device("batch_norm", {&input, &running_mean, &running_var, &weight, &bias});
  const int64_t N = input.size(0), C = input.size(1),
                S = input.numel() / std::max<int64_t>(1, N * C);
  for (const Tensor* t : {&running_mean, &running_var, &weight, &bias})
    if (t->defined())
      TANDEM_CHECK(t->numel() == C, "batch_norm: expected a per-channel tensor of ", C,
                   " values, got ", shape_str(t->sizes()));
  // Parameters share the input's type, or are float32 under a float16/bfloat16 input (PyTorch's
  // mixed-type batch norm, which autocast relies on: master parameters stay float32).
  const bool half_input = is_half(input.dtype());
  for (const Tensor* t : {&running_mean, &running_var, &weight, &bias})
    if (t->defined())
      TANDEM_CHECK(t->dtype() == input.dtype() || (half_input && t->dtype() == DType::Float32),
                   "batch_norm: expected the parameters and running statistics to have the "
                   "input's type (",
                   dtype_name(input.dtype()), ")", half_input ? " or float32" : "", ", got ",
                   dtype_name(t->dtype()));
  // As F.batch_norm: evaluation normalises with the running statistics, so it needs them
  // (nn::BatchNorm without them passes training = true, as torch's module does).
  TANDEM_CHECK(training || running_mean.defined(),
               "running_mean must be defined in evaluation mode");
  TANDEM_CHECK(training || running_var.defined(), "running_var must be defined in evaluation mode");
  const bool use_batch_stats = training;
  if (use_batch_stats && N * S == 1)
    TANDEM_FAIL("Expected more than 1 value per channel when training, got input size ",
                torch_size_str(input.sizes()));
  if (input.numel() == 0) return batch_norm_of_empty(input, weight, bias);
  const kernels::ChannelLayout layout{N, C, S};
  const Tensor x = input.contiguous();
  const kernels::KernelContext ctx = kernel_context(x);
  const TensorOptions stats_options(DType::Float64, x.device());
  // Per-channel statistics in float64: the batch's (training) or the running ones (eval).
  Tensor mean, var, invstd;
  {
    NoGradGuard no_grad;
    if (use_batch_stats) {
      mean = empty({C}, stats_options);
      var = empty({C}, stats_options);
      kernels::batch_norm_stats(ctx, layout, buffer(x), buffer(mean), buffer(var));
      invstd = 1.0 / sqrt(var + eps);
    } else {
      mean = running_mean.detach().to(DType::Float64).contiguous();
      invstd = 1.0 / sqrt(running_var.detach().to(DType::Float64) + eps);
    }
  }
  const Tensor w = weight.defined() ? weight.contiguous() : Tensor();
  const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  Tensor y = empty(x.sizes(), x.options());
  kernels::batch_norm_apply(ctx, layout, buffer(x), buffer(mean), buffer(invstd), buffer(w),
                            buffer(b), buffer(y));
  if (training && running_mean.defined() && running_var.defined()) {
    // new = (1 - momentum) * old + momentum * batch, with the unbiased variance (reference §6.1).
    NoGradGuard no_grad;
    const double n = double(N * S);
    const Tensor unbiased = var * n / (n - 1);
    Tensor rm = running_mean, rv = running_var;
    rm.mul_(1 - momentum).add_(mean.to(rm.dtype()), momentum);
    rv.mul_(1 - momentum).add_(unbiased.to(rv.dtype()), momentum);
  }
  const bool train_grad = use_batch_stats;
  const DType param_dtype = weight.defined() ? weight.dtype()
                            : bias.defined() ? bias.dtype()
                                             : input.dtype();
  record("NativeBatchNormBackward0", {input, weight, bias}, {y}, {x, w, mean, invstd},
         [layout, train_grad, param_dtype](const TensorList& g, const TensorList& s) {
           const Tensor gy = g[0].contiguous();
           const Tensor &xs = s[0], &ws = s[1], &mean = s[2], &invstd = s[3];
           const TensorOptions stats_options(DType::Float64, xs.device());
           Tensor gx = empty(xs.sizes(), xs.options());
           Tensor sum_gy = empty({layout.C}, stats_options);
           Tensor sum_gy_xhat = empty({layout.C}, stats_options);
           kernels::batch_norm_backward(kernel_context(xs), layout, train_grad, buffer(xs),
                                        buffer(gy), buffer(mean), buffer(invstd), buffer(ws),
                                        buffer(gx), buffer(sum_gy), buffer(sum_gy_xhat));
           // The parameters' gradients in the parameters' type (float32 under a mixed-type
           // input).
           const DType dt = param_dtype;
           return TensorList{gx, ws.defined() ? sum_gy_xhat.to(dt) : Tensor(), sum_gy.to(dt)};
         });
  return y;
}

}  // namespace tandem
