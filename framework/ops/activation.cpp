// Activations run the shared elementwise functors (kernels/common/elementwise_functors.h) through
// the elementwise launchers, so they work on CPU and CUDA alike; each backward is the matching
// *Backward binary functor applied to (grad, saved). softmax/log_softmax have kernel families of
// their own.
#include "framework/ops/activation.h"

#include <algorithm>

#include "framework/autograd/node.h"
#include "framework/ops/autocast.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/elementwise_kernels.h"
#include "framework/ops/scalar_type.h"
#include "framework/tensor/factories.h"
#include "framework/tensor/kernel_args.h"
#include "kernels/kernel_table.h"

namespace tandem {

using autograd::record;
using autograd::TensorList;
using kernels::BinaryOp;
using kernels::OpParams;
using kernels::UnaryOp;
using ops_detail::run_binary;
using ops_detail::run_unary;

namespace {

OpParams slope_param(double slope) {
  OpParams p;
  p.alpha = slope;
  return p;
}

using ops_detail::to_floating;

// An activation y = op(x) whose backward is bwd(grad, saved), saved being x or y.
Tensor unary_activation(const char* name, const char* backward_name, const Tensor& x, UnaryOp op,
                        BinaryOp bwd, const OpParams& params, bool save_output) {
  Tensor out = run_unary(x, op, params, name);
  record(backward_name, {x}, {out}, {save_output ? out : x},
         [bwd, params](const TensorList& g, const TensorList& s) {
           return TensorList{run_binary(g[0], s[0], bwd, params, "backward")};
         });
  return out;
}

// PyTorch's activations beyond relu take floating tensors only; its message names the CPU kernel
// (on either device, so the message does not depend on where a test runs).
void require_floating(const Tensor& x, const char* kernel) {
  TANDEM_CHECK(is_floating(x.dtype()), "\"", kernel, "\" not implemented for '",
               ops_detail::scalar_type_name(x.dtype()), "'");
}

}  // namespace

Tensor relu(const Tensor& x) {
  // PyTorch's threshold_backward reads the result: the gradient passes where y > 0.
  return unary_activation("relu", "ReluBackward0", x, UnaryOp::Relu, BinaryOp::ReluBackward, {},
                          /*save_output=*/true);
}

Tensor prelu(const Tensor& x, const Tensor& weight) {
  require_floating(x, "prelu_cpu");
  const int64_t n = weight.numel();
  if (n != 1) {
    TANDEM_CHECK(x.dim() > 0, "Not allow zero-dim input tensor.");
    const int64_t channels = x.dim() > 1 ? x.size(1) : 1;
    TANDEM_CHECK(channels == n,
                 "Mismatch of parameter numbers and input channel size. Found parameter numbers = ",
                 n, " and channel size = ", channels, ".");
  }
  TANDEM_CHECK(
      weight.dim() <= 1,
      "prelu: Expected `weight` to be a scalar or 1D tensor, but got ndim = ", weight.dim());
  // The slopes broadcast over x: (1, C, 1, ...) per channel, a 0-d tensor for a shared one. The
  // ops' own gradients are PyTorch's prelu_backward: g or w * g for x, sum(x * g) where x <= 0
  // for w. The slope multiplies x with its positive part zeroed, so an infinite x > 0 adds
  // 0 * g, not inf * 0, to the weight's gradient.
  Shape shape(size_t(std::max<int64_t>(x.dim(), 1)), 1);
  if (n != 1) shape[1] = n;
  const Tensor w = n == 1 ? weight.reshape({}) : weight.reshape(shape);
  const Tensor zero = zeros({}, x.options());
  const Tensor positive = gt(x, zero);
  return where(positive, x, w * where(positive, zero, x));
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  require_floating(x, "leaky_relu_cpu");  // as PyTorch: no integer type (relu takes them)
  return unary_activation("leaky_relu", "LeakyReluBackward0", x, UnaryOp::LeakyRelu,
                          BinaryOp::LeakyReluBackward, slope_param(negative_slope), false);
}

Tensor gelu(const Tensor& x, const std::string& approximate) {
  TANDEM_CHECK(approximate == "none" || approximate == "tanh",
               "approximate argument must be either none or tanh.");
  TANDEM_CHECK(is_floating(x.dtype()), "\"GeluKernelImpl\" not implemented for '",
               ops_detail::scalar_type_name(x.dtype()), "'");
  const bool tanh_form = approximate == "tanh";
  return unary_activation("gelu", "GeluBackward0", x, tanh_form ? UnaryOp::GeluTanh : UnaryOp::Gelu,
                          tanh_form ? BinaryOp::GeluTanhBackward : BinaryOp::GeluBackward, {},
                          false);
}

Tensor silu(const Tensor& x) {
  require_floating(x, "silu_cpu");
  return unary_activation("silu", "SiluBackward0", x, UnaryOp::Silu, BinaryOp::SiluBackward, {},
                          false);
}

Tensor mish(const Tensor& x) {
  require_floating(x, "mish_cpu");
  return unary_activation("mish", "MishBackward0", x, UnaryOp::Mish, BinaryOp::MishBackward, {},
                          false);
}

Tensor elu(const Tensor& x, double alpha, double scale, double input_scale) {
  require_floating(x, "elu_cpu");
  OpParams p;
  p.alpha = alpha;
  p.hi = scale;
  p.lo = input_scale;
  return unary_activation("elu", "EluBackward0", x, UnaryOp::Elu, BinaryOp::EluBackward, p, false);
}

Tensor selu(const Tensor& x) {  // torch/csrc: SELU's alpha and scale
  return elu(x, 1.6732632423543772848170429916717, 1.0507009873554804934193349852946);
}

Tensor celu(const Tensor& x, double alpha) {
  TANDEM_CHECK(alpha != 0, "ZeroDivisionError: alpha cannot be 0 for CELU");
  return elu(x, alpha, 1.0, 1.0 / alpha);
}

Tensor softplus(const Tensor& x, double beta, double threshold) {
  require_floating(x, "softplus_cpu");
  OpParams p;
  p.alpha = beta;
  p.hi = threshold;
  return unary_activation("softplus", "SoftplusBackward0", x, UnaryOp::Softplus,
                          BinaryOp::SoftplusBackward, p, false);
}

Tensor hardsigmoid(const Tensor& x) {
  require_floating(x, "hardsigmoid_cpu");
  return unary_activation("hardsigmoid", "HardsigmoidBackward0", x, UnaryOp::Hardsigmoid,
                          BinaryOp::HardsigmoidBackward, {}, false);
}

Tensor hardswish(const Tensor& x) {
  require_floating(x, "hardswish_cpu");
  return unary_activation("hardswish", "HardswishBackward0", x, UnaryOp::Hardswish,
                          BinaryOp::HardswishBackward, {}, false);
}

Tensor sigmoid(const Tensor& x) {
  return unary_activation("sigmoid", "SigmoidBackward0", to_floating(x), UnaryOp::Sigmoid,
                          BinaryOp::SigmoidBackward, {}, true);
}

Tensor tanh(const Tensor& x) {
  return unary_activation("tanh", "TanhBackward0", to_floating(x), UnaryOp::Tanh,
                          BinaryOp::TanhBackward, {}, true);
}

namespace {

Tensor softmax_impl(const Tensor& x_in, int64_t dim_in, bool log, const char* name,
                    const char* backward_name) {
  const int64_t dim = wrap_dim(dim_in, std::max<int64_t>(x_in.dim(), 1), name);
  // Integer inputs compute in float32, as torch.softmax's default dtype promotion.
  const Tensor x = to_floating(x_in).contiguous();
  const kernels::Slab slab = slab_around(x.sizes(), dim);
  Tensor out = empty(x.sizes(), x.options());
  kernels::softmax_forward(kernel_context(x), slab, log, buffer(x), buffer(out));
  record(backward_name, {x}, {out}, {out}, [slab, log](const TensorList& g, const TensorList& s) {
    const Tensor grad = g[0].contiguous();
    const Tensor& y = s[0];
    Tensor gin = empty(y.sizes(), y.options());
    kernels::softmax_backward(kernel_context(y), slab, log, buffer(grad), buffer(y), buffer(gin));
    return TensorList{gin};
  });
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  if (const auto c = autocast::cast_operands(autocast::OpClass::Softmax, {&x})) {
    const autocast::Suspend nested;
    return softmax((*c)[0], dim);
  }
  return softmax_impl(x, dim, false, "softmax", "SoftmaxBackward0");
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  if (const auto c = autocast::cast_operands(autocast::OpClass::Softmax, {&x})) {
    const autocast::Suspend nested;
    return log_softmax((*c)[0], dim);
  }
  return softmax_impl(x, dim, true, "log_softmax", "LogSoftmaxBackward0");
}

}  // namespace tandem
