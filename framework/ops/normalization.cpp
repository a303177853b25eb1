// batch_norm, layer_norm and group_norm (see normalization.h): argument checks, running-stat
// update and autograd here; statistics, the normalisation and the backward are the batch_norm and
// group_norm kernel families (layer_norm is group_norm's layout with one group of the normalized
// elements as its channels).
#include "framework/ops/normalization.h"

#include <cmath>
#include <vector>

#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/ops/autocast.h"
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

namespace {

// layer_norm and group_norm on a contiguous (N, G, B, S) view of the input: y, and the backward
// (autograd node `name`); weight and bias have one shape, and their gradients the same.
Tensor group_norm_layout(const char* name, const Tensor& input, const kernels::GroupNormLayout& l,
                         const Tensor& weight, const Tensor& bias, double eps) {
  const Tensor x = input.contiguous();
  const Tensor w = weight.defined() ? weight.contiguous() : Tensor();
  const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  const TensorOptions stats_options(DType::Float64, x.device());
  Tensor y = empty(x.sizes(), x.options());
  Tensor mean = empty({l.rows()}, stats_options), rstd = empty({l.rows()}, stats_options);
  kernels::group_norm_forward(kernel_context(x), l, eps, buffer(x), buffer(w), buffer(b), buffer(y),
                              buffer(mean), buffer(rstd));
  const bool affine = weight.defined() || bias.defined();
  record(name, {input, weight, bias}, {y}, {x, w, mean, rstd},
         [l, affine, has_bias = bias.defined(),
          shape = w.defined()   ? w.sizes()
                  : b.defined() ? b.sizes()
                                : Shape{}](const TensorList& g, const TensorList& s) {
           const Tensor gy = g[0].contiguous();
           const Tensor &xs = s[0], &ws = s[1], &mean = s[2], &rstd = s[3];
           const TensorOptions stats_options(DType::Float64, xs.device());
           Tensor gx = empty(xs.sizes(), xs.options());
           Tensor sum_gy, sum_gy_xhat;
           if (affine) {
             sum_gy = empty({l.channels()}, stats_options);
             sum_gy_xhat = empty({l.channels()}, stats_options);
           }
           kernels::group_norm_backward(kernel_context(xs), l, buffer(xs), buffer(gy), buffer(mean),
                                        buffer(rstd), buffer(ws), buffer(gx), buffer(sum_gy),
                                        buffer(sum_gy_xhat));
           const DType dt = xs.dtype();
           return TensorList{gx, ws.defined() ? sum_gy_xhat.to(dt).reshape(shape) : Tensor(),
                             has_bias ? sum_gy.to(dt).reshape(shape) : Tensor()};
         });
  return y;
}

// Weight and bias share the input's type, as PyTorch's kernels require.
void check_param_types(const char* op, const Tensor& input, const Tensor& weight,
                       const Tensor& bias) {
  for (const Tensor* t : {&weight, &bias})
    if (t->defined())
      TANDEM_CHECK(t->dtype() == input.dtype(), op,
                   ": expected weight and bias of the input's type (", dtype_name(input.dtype()),
                   "), got ", dtype_name(t->dtype()));
}

}  // namespace

Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  if (const auto c =
          autocast::cast_operands(autocast::OpClass::Normalization, {&input, &weight, &bias})) {
    const autocast::Suspend nested;
    return layer_norm((*c)[0], normalized_shape, (*c)[1], (*c)[2], eps);
  }
  // PyTorch's checks and texts (aten/src/ATen/native/layer_norm.h, _check_layer_norm_inputs).
  TANDEM_CHECK(!normalized_shape.empty(),
               "Expected normalized_shape to be at least 1-dimensional, i.e., containing at "
               "least one element, but got normalized_shape = ",
               shape_str(normalized_shape));
  TANDEM_CHECK(!weight.defined() || weight.sizes() == normalized_shape,
               "Expected weight to be of same shape as normalized_shape, but got weight of shape ",
               shape_str(weight.defined() ? weight.sizes() : Shape{}),
               " and normalized_shape = ", shape_str(normalized_shape));
  TANDEM_CHECK(!bias.defined() || bias.sizes() == normalized_shape,
               "Expected bias to be of same shape as normalized_shape, but got bias of shape ",
               shape_str(bias.defined() ? bias.sizes() : Shape{}),
               " and normalized_shape = ", shape_str(normalized_shape));
  const int64_t dims = int64_t(normalized_shape.size()), lead = input.dim() - dims;
  bool fits = lead >= 0;
  for (int64_t k = 0; fits && k < dims; ++k) fits = input.size(lead + k) == normalized_shape[k];
  if (!fits) {
    std::string expected = "[*";
    for (int64_t s : normalized_shape) expected += ", " + std::to_string(s);
    TANDEM_FAIL("Given normalized_shape=", shape_str(normalized_shape),
                ", expected input with shape ", expected, "], but got input of size",
                shape_str(input.sizes()));
  }
  check_same_device("layer_norm", {&input, &weight, &bias});
  check_param_types("layer_norm", input, weight, bias);
  TANDEM_CHECK(is_floating(input.dtype()), "layer_norm: expected a floating-point input, got ",
               dtype_name(input.dtype()));
  int64_t M = 1, D = 1;
  for (int64_t k = 0; k < input.dim(); ++k) (k < lead ? M : D) *= input.size(k);
  return group_norm_layout("NativeLayerNormBackward0", input, {M, 1, D, 1}, weight, bias, eps);
}

Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight, const Tensor& bias,
                  double eps) {
  if (const auto c =
          autocast::cast_operands(autocast::OpClass::Normalization, {&input, &weight, &bias})) {
    const autocast::Suspend nested;
    return group_norm((*c)[0], num_groups, (*c)[1], (*c)[2], eps);
  }
  TANDEM_CHECK(input.dim() >= 2, "Expected at least 2 dimensions for input tensor but received ",
               input.dim());
  // PyTorch's checks and texts (aten/src/ATen/native/group_norm.cpp, check_group_norm_inputs).
  TANDEM_CHECK(num_groups > 0, "Expected num groups to be greater than 0, got ", num_groups);
  const int64_t N = input.size(0), C = input.size(1);
  TANDEM_CHECK(C % num_groups == 0,
               "Expected number of channels in input to be divisible by num_groups, but got input "
               "of shape ",
               shape_str(input.sizes()), " and num_groups=", num_groups);
  TANDEM_CHECK(!weight.defined() || (weight.dim() == 1 && weight.numel() == C),
               "Expected weight to be a vector of size equal to the number of channels in input, "
               "but got weight of shape ",
               shape_str(weight.defined() ? weight.sizes() : Shape{}), " and input of shape ",
               shape_str(input.sizes()));
  TANDEM_CHECK(!bias.defined() || (bias.dim() == 1 && bias.numel() == C),
               "Expected bias to be a vector of size equal to the number of channels in input, "
               "but got bias of shape ",
               shape_str(bias.defined() ? bias.sizes() : Shape{}), " and input of shape ",
               shape_str(input.sizes()));
  const int64_t S = input.numel() / std::max<int64_t>(1, N * C);
  // F.group_norm's _verify_batch_size on [N * C / G, G, *spatial].
  if (input.numel() > 0 && N * C / num_groups * S == 1) {
    Shape size{N * C / num_groups, num_groups};
    for (int64_t k = 2; k < input.dim(); ++k) size.push_back(input.size(k));
    TANDEM_FAIL("Expected more than 1 value per channel when training, got input size ",
                shape_str(size));
  }
  check_same_device("group_norm", {&input, &weight, &bias});
  check_param_types("group_norm", input, weight, bias);
  TANDEM_CHECK(is_floating(input.dtype()), "group_norm: expected a floating-point input, got ",
               dtype_name(input.dtype()));
  return group_norm_layout("NativeGroupNormBackward0", input, {N, num_groups, C / num_groups, S},
                           weight, bias, eps);
}

}  // namespace tandem
