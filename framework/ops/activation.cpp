// Activations run the shared elementwise functors (kernels/common/elementwise_functors.h) through
// the elementwise launchers, so they work on CPU and CUDA alike; each backward is the matching
// *Backward binary functor applied to (grad, saved). softmax/log_softmax have kernel families of
// their own.
#include "framework/ops/activation.h"

#include "framework/autograd/node.h"
#include "framework/ops/autocast.h"
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

}  // namespace

Tensor relu(const Tensor& x) {
  // PyTorch's threshold_backward reads the result: the gradient passes where y > 0.
  return unary_activation("relu", "ReluBackward0", x, UnaryOp::Relu, BinaryOp::ReluBackward, {},
                          /*save_output=*/true);
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
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
