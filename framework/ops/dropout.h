// dropout: in training, zero each element with probability p (Bernoulli from `gen`) and scale
// the rest by 1/(1-p); identity in eval or when p == 0; zeros when p == 1 (reference §6.2).
#pragma once

#include "framework/tensor/generator.h"
#include "framework/tensor/tensor.h"

namespace tandem {

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true);  // default generator

}  // namespace tandem
