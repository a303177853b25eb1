// Losses with PyTorch 1.13's reductions and edge cases (see reference §6.3): cross_entropy with
// class indices (ignore_index, label_smoothing, class weights) or class probabilities, nll_loss
// on log-probabilities, the regression losses mse_loss, l1_loss, smooth_l1_loss and huber_loss,
// binary_cross_entropy (on probabilities) and binary_cross_entropy_with_logits, and kl_div.
//
// As torch.nn.functional: mse, l1, smooth_l1 and huber broadcast input against target after
// printing PyTorch's warning (once per pair of sizes) when their sizes differ; the two binary
// cross entropies refuse a target of another size.
#pragma once

#include <string>

#include "framework/tensor/tensor.h"

namespace tandem {

enum class Reduction { None, Mean, Sum };
Reduction reduction_from_string(const std::string& name);  // "none" | "mean" | "sum"

// input: (N, C) or (N, C, d1, ...) or (C); target: int64 class indices of shape (N, d1, ...), or
// class probabilities of input's shape (floating; ignore_index must then be negative).
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                     Reduction reduction = Reduction::Mean, int64_t ignore_index = -100,
                     double label_smoothing = 0.0);
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight = {},
                Reduction reduction = Reduction::Mean, int64_t ignore_index = -100);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// |d| < beta ? 0.5 d^2 / beta : |d| - 0.5 beta, with d = input - target; beta >= 0 (0: l1_loss's
// values, though the gradient where d = 0 is PyTorch's -1, not 0).
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target,
                      Reduction reduction = Reduction::Mean, double beta = 1.0);
// |d| < delta ? 0.5 d^2 : delta (|d| - 0.5 delta); delta > 0.
Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                  double delta = 1.0);
// -w (t log(x) + (1 - t) log(1 - x)) on probabilities x in [0, 1] (anything else throws, as on
// PyTorch's CPU), each log clamped at -100; weight broadcasts to the target's shape. Refused
// inside a CUDA autocast region, as PyTorch does: use binary_cross_entropy_with_logits.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                            Reduction reduction = Reduction::Mean);
// The same on logits, in PyTorch's overflow-free form; pos_weight (e.g. one per class, shape
// (C)) scales the positive term, weight the whole loss.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const Tensor& weight = {},
                                        Reduction reduction = Reduction::Mean,
                                        const Tensor& pos_weight = {});
// target * (log(target) - input) on log-probabilities `input` (log_target: target is given as
// log-probabilities too). reduction: "none", "mean" (over every element; prints PyTorch's
// warning once), "sum" or "batchmean" (the sum over input.size(0), the KL divergence's own
// definition).
Tensor kl_div(const Tensor& input, const Tensor& target, const std::string& reduction = "mean",
              bool log_target = false);

}  // namespace tandem
