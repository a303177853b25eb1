// Losses with PyTorch's reductions and edge cases (see reference §6.3): cross_entropy with class
// indices (ignore_index, label_smoothing, class weights), nll_loss on log-probabilities, mse_loss.
#pragma once

#include <string>

#include "framework/tensor/tensor.h"

namespace tandem {

enum class Reduction { None, Mean, Sum };
Reduction reduction_from_string(const std::string& name);  // "none" | "mean" | "sum"

// input: (N, C) or (N, C, d1, ...) or (C); target: int64 class indices of shape (N, d1, ...).
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                     Reduction reduction = Reduction::Mean, int64_t ignore_index = -100,
                     double label_smoothing = 0.0);
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight = {},
                Reduction reduction = Reduction::Mean, int64_t ignore_index = -100);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

}  // namespace tandem
