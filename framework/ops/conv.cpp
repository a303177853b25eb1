// conv2d and conv_transpose2d. Both are built from the three convolution kernel families: the
// convolution itself, its input-gradient and its weight-gradient. A transposed convolution's
// forward is a convolution's input-gradient, and its gradients are the other two with the roles
// swapped, so the arithmetic exists once.
#include "framework/ops/conv.h"

#include <algorithm>

#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/ops/autocast.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/reduction.h"
#include "framework/tensor/factories.h"
#include "framework/tensor/kernel_args.h"
#include "kernels/kernel_table.h"

namespace tandem {

using autograd::record;
using autograd::TensorList;

namespace {

struct ConvParams {
  Pair stride, padding, dilation;
  int64_t groups;
};

int64_t conv_out(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil) {
  return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1;
}

// The kernel table's description of a convolution from x_shape (N, C, H, W) with a weight of
// w_shape (Co, C/groups, kh, kw) to an output of oh x ow.
kernels::Conv2dShape conv_shape(const Shape& x_shape, const Shape& w_shape, int64_t oh, int64_t ow,
                                const ConvParams& p) {
  return {x_shape[0],   x_shape[1],   x_shape[2],    x_shape[3],
          w_shape[0],   w_shape[2],   w_shape[3],    oh,
          ow,           p.groups,     p.stride[0],   p.stride[1],
          p.padding[0], p.padding[1], p.dilation[0], p.dilation[1]};
}

// y = conv(x, w) + bias (x, w contiguous; bias contiguous or undefined).
Tensor conv_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvParams& p,
                    int64_t oh, int64_t ow) {
  Tensor y = empty({x.size(0), w.size(0), oh, ow}, x.options());
  kernels::conv2d_forward(kernel_context(x), conv_shape(x.sizes(), w.sizes(), oh, ow, p), buffer(x),
                          buffer(w), buffer(bias), buffer(y));
  return y;
}

// The input-gradient of a convolution whose input has `x_shape`, from its output gradient gy.
Tensor conv_input_grad(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                       const ConvParams& p) {
  Tensor gx = empty(x_shape, gy.options());
  kernels::conv2d_backward_input(kernel_context(gy),
                                 conv_shape(x_shape, w.sizes(), gy.size(2), gy.size(3), p),
                                 buffer(gy), buffer(w), buffer(gx));
  return gx;
}

// The weight-gradient (of `w_shape`) of a convolution of x, from its output gradient gy.
Tensor conv_weight_grad(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                        const ConvParams& p) {
  Tensor gw = empty(w_shape, x.options());
  kernels::conv2d_backward_weight(kernel_context(x),
                                  conv_shape(x.sizes(), w_shape, gy.size(2), gy.size(3), p),
                                  buffer(x), buffer(gy), buffer(gw));
  return gw;
}

// Bias over channel dim 1 of (N, C, H, W).
Tensor add_channel_bias(const Tensor& y, const Tensor& bias) {
  return add(y, bias.reshape({1, -1, 1, 1}));
}

void check_conv_args(const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& p,
                     const char* op, int64_t in_channels_per_group_dim) {
  TANDEM_CHECK(x.dim() == 4, op, ": expected a 4-D (N, C, H, W) input, got ", shape_str(x.sizes()));
  TANDEM_CHECK(w.dim() == 4, op, ": expected a 4-D weight, got ", shape_str(w.sizes()));
  check_same_device(op, {&x, &w, &b});
  TANDEM_CHECK(x.dtype() == w.dtype(), op, ": input (", dtype_name(x.dtype()), ") and weight (",
               dtype_name(w.dtype()), ") must have the same dtype");
  TANDEM_CHECK(p.groups > 0, op, ": non-positive groups is not supported");
  for (int i = 0; i < 2; ++i) {
    TANDEM_CHECK(p.stride[i] > 0, op, ": non-positive stride is not supported");
    TANDEM_CHECK(p.padding[i] >= 0, op, ": negative padding is not supported");
    TANDEM_CHECK(p.dilation[i] > 0, op, ": dilation should be greater than zero");
  }
  (void)in_channels_per_group_dim;
  if (b.defined()) TANDEM_CHECK(b.dim() == 1, op, ": bias must be 1-D, got ", shape_str(b.sizes()));
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Pair stride,
              Pair padding, Pair dilation, int64_t groups) {
  if (const auto c = autocast::cast_operands(autocast::OpClass::Conv, {&input, &weight, &bias})) {
    const autocast::Suspend nested;
    return conv2d((*c)[0], (*c)[1], (*c)[2], stride, padding, dilation, groups);
  }
  if (input.dim() == 3)
    return conv2d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0);
  const ConvParams p{stride, padding, dilation, groups};
  check_conv_args(input, weight, bias, p, "conv2d", 1);
  const int64_t C = input.size(1), Co = weight.size(0);
  if (C != weight.size(1) * groups || Co % groups != 0)
    TANDEM_FAIL("Given groups=", groups, ", weight of size ", torch_size_str(weight.sizes()),
                ", expected input", shape_str(input.sizes()), " to have ", weight.size(1) * groups,
                " channels, but got ", C, " channels instead");
  if (bias.defined() && bias.size(0) != Co)
    TANDEM_FAIL("conv2d: bias of shape ", shape_str(bias.sizes()), " for ", Co, " output channels");
  const int64_t oh = conv_out(input.size(2), weight.size(2), padding[0], stride[0], dilation[0]);
  const int64_t ow = conv_out(input.size(3), weight.size(3), padding[1], stride[1], dilation[1]);
  if (oh <= 0 || ow <= 0)
    TANDEM_FAIL("conv2d: calculated output size (", oh, "x", ow, ") is too small for input ",
                shape_str(input.sizes()), " and kernel ", weight.size(2), "x", weight.size(3));
  const Tensor x = input.contiguous(), w = weight.contiguous();
  TANDEM_CHECK(!bias.defined() || bias.dtype() == x.dtype(), "conv2d: bias (",
               dtype_name(bias.dtype()), ") must have the input's dtype (", dtype_name(x.dtype()),
               ")");
  Tensor y = conv_forward(x, w, bias.defined() ? bias.contiguous() : Tensor(), p, oh, ow);
  const Shape x_shape = x.sizes(), w_shape = w.sizes();
  const bool has_bias = bias.defined();
  // Only the gradients that flow somewhere are computed (PyTorch's output_mask): a network's
  // first convolution needs no input gradient, and frozen weights need none either.
  const bool need_x = input.requires_grad(), need_w = weight.requires_grad();
  record("ConvolutionBackward0", {input, weight, bias}, {y}, {x, w},
         [p, x_shape, w_shape, has_bias, need_x, need_w](const TensorList& g, const TensorList& s) {
           const Tensor gy = g[0].contiguous();
           return TensorList{need_x ? conv_input_grad(gy, s[1], x_shape, p) : Tensor(),
                             need_w ? conv_weight_grad(s[0], gy, w_shape, p) : Tensor(),
                             has_bias ? sum(gy, {0, 2, 3}) : Tensor()};
         });
  return y;
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Pair stride,
                        Pair padding, Pair output_padding, int64_t groups, Pair dilation) {
  if (const auto c =
          autocast::cast_operands(autocast::OpClass::ConvTranspose, {&input, &weight, &bias})) {
    const autocast::Suspend nested;
    return conv_transpose2d((*c)[0], (*c)[1], (*c)[2], stride, padding, output_padding, groups,
                            dilation);
  }
  if (input.dim() == 3)
    return conv_transpose2d(input.unsqueeze(0), weight, bias, stride, padding, output_padding,
                            groups, dilation)
        .squeeze(0);
  const ConvParams p{stride, padding, dilation, groups};
  check_conv_args(input, weight, bias, p, "conv_transpose2d", 0);
  const int64_t C = input.size(1);
  TANDEM_CHECK(weight.size(0) == C, "conv_transpose2d: weight of size ",
               torch_size_str(weight.sizes()), " expects ", weight.size(0),
               " input channels, but got ", C, " channels");
  TANDEM_CHECK(C % groups == 0, "conv_transpose2d: in_channels must be divisible by groups");
  for (int i = 0; i < 2; ++i)
    TANDEM_CHECK(output_padding[i] < stride[i] || output_padding[i] < dilation[i],
                 "conv_transpose2d: output padding must be smaller than either stride or dilation");
  const int64_t Co = weight.size(1) * groups;
  const int64_t oh = (input.size(2) - 1) * stride[0] - 2 * padding[0] +
                     dilation[0] * (weight.size(2) - 1) + output_padding[0] + 1;
  const int64_t ow = (input.size(3) - 1) * stride[1] - 2 * padding[1] +
                     dilation[1] * (weight.size(3) - 1) + output_padding[1] + 1;
  TANDEM_CHECK(oh > 0 && ow > 0, "conv_transpose2d: calculated output size (", oh, "x", ow,
               ") is too small");
  if (bias.defined())
    TANDEM_CHECK(bias.size(0) == Co, "conv_transpose2d: bias of shape ", shape_str(bias.sizes()),
                 " for ", Co, " output channels");
  const Tensor x = input.contiguous(), w = weight.contiguous();
  // The transposed convolution of x is the input-gradient of a convolution from (Co) to (C)
  // channels whose output gradient is x; that convolution's weight is w, as stored.
  const Shape y_shape{x.size(0), Co, oh, ow};
  Tensor y = conv_input_grad(x, w, y_shape, p);
  if (bias.defined()) {
    NoGradGuard no_grad;
    y = add_channel_bias(y, bias);
  }
  const Shape w_shape = w.sizes();
  const bool has_bias = bias.defined();
  const bool need_x = input.requires_grad(), need_w = weight.requires_grad();
  record("ConvolutionBackward0", {input, weight, bias}, {y}, {x, w},
         [p, w_shape, has_bias, need_x, need_w](const TensorList& g, const TensorList& s) {
           const Tensor gy = g[0].contiguous();
           const int64_t oh2 = s[0].size(2), ow2 = s[0].size(3);
           return TensorList{need_x ? conv_forward(gy, s[1], Tensor(), p, oh2, ow2) : Tensor(),
                             need_w ? conv_weight_grad(gy, s[0], w_shape, p) : Tensor(),
                             has_bias ? sum(gy, {0, 2, 3}) : Tensor()};
         });
  return y;
}

}  // namespace tandem
