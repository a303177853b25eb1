// The normalisation ops, as torch.nn.functional's:
//   batch_norm (reference §6.1): in training, normalise with the biased batch variance and
//     update running_mean/var (unbiased) in place with `momentum`; in eval, normalise with the
//     running statistics. Input (N, C) or (N, C, ...).
//   layer_norm: normalise over the trailing dims `normalized_shape` of the input, then the
//     elementwise weight and bias (each of normalized_shape, optional).
//   group_norm: input (N, C, ...) with C divisible by num_groups; normalise over each sample's
//     groups of C / num_groups channels, then the per-channel weight and bias (optional).
// layer_norm and group_norm use the biased variance and rstd = 1 / sqrt(var + eps), with float64
// statistics; under autocast they run in float32 on CUDA and in the input's type on the CPU, as
// PyTorch 1.13.
#pragma once

#include "framework/tensor/tensor.h"

namespace tandem {

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum = 0.1,
                  double eps = 1e-5);

Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight = {},
                  const Tensor& bias = {}, double eps = 1e-5);

Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight = {},
                  const Tensor& bias = {}, double eps = 1e-5);

}  // namespace tandem
