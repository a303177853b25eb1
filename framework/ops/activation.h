// Activations and (log-)softmax, differentiable in float32/float64.
#pragma once

#include <string>

#include "framework/tensor/tensor.h"

namespace tandem {

Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
// x > 0 ? x : weight * x with a learnt slope (F.prelu): weight holds one slope, or one per
// channel (dim 1 of x); the weight's gradient sums over everything but the channel.
Tensor prelu(const Tensor& x, const Tensor& weight);
// approximate: "none" (erf form) or "tanh", as torch.nn.functional.gelu.
Tensor gelu(const Tensor& x, const std::string& approximate = "none");
Tensor silu(const Tensor& x);
Tensor mish(const Tensor& x);
// elu(x) = x > 0 ? scale * x : alpha * scale * (exp(x * input_scale) - 1), as PyTorch's
// torch._C._nn.elu, which selu and celu call with their own coefficients.
Tensor elu(const Tensor& x, double alpha = 1.0, double scale = 1.0, double input_scale = 1.0);
Tensor selu(const Tensor& x);
Tensor celu(const Tensor& x, double alpha = 1.0);
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
Tensor hardsigmoid(const Tensor& x);
Tensor hardswish(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

}  // namespace tandem
