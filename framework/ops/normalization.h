// batch_norm as torch.nn.functional.batch_norm (reference §6.1): in training, normalise with the
// biased batch variance and update running_mean/var (unbiased) in place with `momentum`; in
// eval, normalise with the running statistics. Input (N, C) or (N, C, ...).
#pragma once

#include "framework/tensor/tensor.h"

namespace tandem {

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum = 0.1,
                  double eps = 1e-5);

}  // namespace tandem
