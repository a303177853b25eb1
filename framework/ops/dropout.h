// dropout: in training, zero each element with probability p (Bernoulli from `gen`) and scale
// the rest by 1/(1-p); identity in eval or when p == 0; zeros when p == 1 (reference §6.2).
// Channel (feature) dropout, F.dropout1d / dropout2d / dropout3d: one draw per (sample, channel),
// which zeroes or scales the whole channel; their input dimensions, warnings and errors are
// PyTorch 1.13's (dropout1d takes (C, L) or (N, C, L); dropout2d any input of 2+ dims, warning
// outside 3-D and 4-D, and treats 3-D input as (N, C, L); dropout3d (C, D, H, W) or (N, C, D, H,
// W), warning otherwise). The masks draw what PyTorch's CPU bernoulli_(1 - p) draws after the same
// seed, so the same seed drops the same elements.
#pragma once

#include "framework/tensor/generator.h"
#include "framework/tensor/tensor.h"

namespace tandem {

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true);  // default generator
Tensor dropout1d(const Tensor& x, double p, bool training, Generator& gen);
Tensor dropout1d(const Tensor& x, double p = 0.5, bool training = true);
Tensor dropout2d(const Tensor& x, double p, bool training, Generator& gen);
Tensor dropout2d(const Tensor& x, double p = 0.5, bool training = true);
Tensor dropout3d(const Tensor& x, double p, bool training, Generator& gen);
Tensor dropout3d(const Tensor& x, double p = 0.5, bool training = true);

}  // namespace tandem
