// LayerNorm and GroupNorm (see normalization.h): parameters, PyTorch's constructor checks and
// reprs; forward is ops::layer_norm / ops::group_norm.
#include "framework/nn/normalization.h"

#include "framework/autograd/grad_mode.h"
#include "framework/nn/size2.h"
#include "framework/ops/normalization.h"
#include "framework/tensor/factories.h"

namespace tandem::nn {

LayerNorm::LayerNorm(Shape shape, double eps, bool elementwise_affine)
    : Module("LayerNorm"),
      normalized_shape(std::move(shape)),
      eps(eps),
      elementwise_affine(elementwise_affine) {
  weight = register_parameter("weight", elementwise_affine ? ones(normalized_shape) : Tensor());
  bias = register_parameter("bias", elementwise_affine ? zeros(normalized_shape) : Tensor());
}

void LayerNorm::reset_parameters() {
  if (!elementwise_affine) return;
  NoGradGuard g;
  weight.detach().fill_(1.0);
  bias.detach().zero_();
}

Tensor LayerNorm::forward(const Tensor& x) {
  return layer_norm(x, normalized_shape, weight, bias, eps);
}

// normalized_shape is a tuple in PyTorch's repr: "(8,)", "(3, 4)".
std::string LayerNorm::extra_repr() const {
  std::string shape = "(";
  for (size_t k = 0; k < normalized_shape.size(); ++k)
    shape += (k ? ", " : "") + std::to_string(normalized_shape[k]);
  if (normalized_shape.size() == 1) shape += ",";
  return shape + "), eps=" + python_float_str(eps) +
         ", elementwise_affine=" + py_bool(elementwise_affine);
}

GroupNorm::GroupNorm(int64_t num_groups, int64_t num_channels, double eps, bool affine)
    : Module("GroupNorm"),
      num_groups(num_groups),
      num_channels(num_channels),
      eps(eps),
      affine(affine) {
  TANDEM_CHECK(num_groups > 0, "Expected num groups to be greater than 0, got ", num_groups);
  TANDEM_CHECK(num_channels % num_groups == 0, "num_channels must be divisible by num_groups");
  weight = register_parameter("weight", affine ? ones({num_channels}) : Tensor());
  bias = register_parameter("bias", affine ? zeros({num_channels}) : Tensor());
}

void GroupNorm::reset_parameters() {
  if (!affine) return;
  NoGradGuard g;
  weight.detach().fill_(1.0);
  bias.detach().zero_();
}

Tensor GroupNorm::forward(const Tensor& x) { return group_norm(x, num_groups, weight, bias, eps); }

std::string GroupNorm::extra_repr() const {
  return std::to_string(num_groups) + ", " + std::to_string(num_channels) +
         ", eps=" + python_float_str(eps) + ", affine=" + py_bool(affine);
}

}  // namespace tandem::nn
