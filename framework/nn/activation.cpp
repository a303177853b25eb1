// Activation modules: forward through ops/activation.h, PyTorch's extra_repr.
#include "framework/nn/activation.h"

#include <cmath>
#include <cstdint>

#include "framework/ops/activation.h"
#include "framework/tensor/factories.h"

namespace tandem::nn {

namespace {
// torch.nn.functional._get_softmax_dim
int64_t implicit_softmax_dim(const Tensor& x) {
  int64_t nd = x.dim();
  return (nd == 0 || nd == 1 || nd == 3) ? 0 : 1;
}
std::string dim_str(std::optional<int64_t> d) { return d ? std::to_string(*d) : "None"; }
}  // namespace

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, negative_slope); }

std::string LeakyReLU::extra_repr() const {
  return "negative_slope=" + python_float_str(negative_slope) + (inplace ? ", inplace=True" : "");
}

PReLU::PReLU(int64_t n, double init) : Module("PReLU"), num_parameters(n) {
  weight = register_parameter("weight", full({n}, init));
}

Tensor PReLU::forward(const Tensor& x) { return prelu(x, weight); }

std::string PReLU::extra_repr() const { return "num_parameters=" + std::to_string(num_parameters); }

GELU::GELU(std::string approx) : Module("GELU"), approximate(std::move(approx)) {
  TANDEM_CHECK(approximate == "none" || approximate == "tanh",
               "approximate argument must be either none or tanh.");
}

Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate); }

Tensor SiLU::forward(const Tensor& x) { return silu(x); }

Tensor Mish::forward(const Tensor& x) { return mish(x); }

Tensor ELU::forward(const Tensor& x) { return elu(x, alpha); }
std::string ELU::extra_repr() const {
  return "alpha=" + python_float_str(alpha) + (inplace ? ", inplace=True" : "");
}

Tensor SELU::forward(const Tensor& x) { return selu(x); }

Tensor CELU::forward(const Tensor& x) { return celu(x, alpha); }
std::string CELU::extra_repr() const {
  return "alpha=" + python_float_str(alpha) + (inplace ? ", inplace=True" : "");
}

Tensor Softplus::forward(const Tensor& x) { return softplus(x, beta, threshold); }
std::string Softplus::extra_repr() const {
  const auto number = [](double v) {
    return v == std::trunc(v) && std::abs(v) < 1e15 ? std::to_string(int64_t(v))
                                                    : python_float_str(v);
  };
  return "beta=" + number(beta) + ", threshold=" + number(threshold);
}

Tensor Hardsigmoid::forward(const Tensor& x) { return hardsigmoid(x); }

Tensor Hardswish::forward(const Tensor& x) { return hardswish(x); }

Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }

Tensor Tanh::forward(const Tensor& x) { return tanh(x); }

Tensor Softmax::forward(const Tensor& x) {
  return softmax(x, dim.value_or(implicit_softmax_dim(x)));
}
std::string Softmax::extra_repr() const { return "dim=" + dim_str(dim); }

Tensor LogSoftmax::forward(const Tensor& x) {
  return log_softmax(x, dim.value_or(implicit_softmax_dim(x)));
}
std::string LogSoftmax::extra_repr() const { return "dim=" + dim_str(dim); }

}  // namespace tandem::nn
