// Linear: parameters, PyTorch's default init (weight then bias draws), forward, repr.
#include "framework/nn/linear.h"

#include "framework/nn/init.h"
#include "framework/nn/size2.h"
#include "framework/ops/linalg.h"
#include "framework/tensor/factories.h"

namespace tandem::nn {

Linear::Linear(const LinearOptions& o, Generator& gen) : Module("Linear"), options(o) {
  weight = register_parameter("weight", empty({o.out_features, o.in_features}));
  bias = register_parameter("bias", o.bias ? empty({o.out_features}) : Tensor());
  reset_parameters(gen);
}

void Linear::reset_parameters(Generator& gen) { init::reset_linear_like(weight, bias, true, gen); }

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(options.in_features) +
         ", out_features=" + std::to_string(options.out_features) +
         ", bias=" + py_bool(bias.defined());
}

}  // namespace tandem::nn
