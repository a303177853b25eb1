// Gradient clipping as torch.nn.utils.clip_grad_norm_ / clip_grad_value_.
#pragma once

#include <vector>

#include "framework/tensor/tensor.h"

namespace tandem::optim {

// Scales all gradients by min(1, max_norm / (total_norm + 1e-6)), where total_norm is the
// norm_type-norm of all gradients together (inf: the largest |g|), accumulated in float64.
// Returns total_norm as a 0-dim tensor of the gradients' type (float32 with no gradients) on
// their device, as PyTorch, which also computes the factor in that type. The factor stays on the
// device, so on a GPU the call never waits for it unless error_if_nonfinite reads the norm.
Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
// Clamps every gradient element to [-clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace tandem::optim
