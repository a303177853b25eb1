// embedding: the rows of a (num_embeddings, embedding_dim) weight that integer indices pick, as
// torch.nn.functional.embedding: out has the indices' shape plus embedding_dim. The weight's
// gradient sums each index's rows in the order the indices come (PyTorch's CPU order); the
// padding_idx row gets none, scale_grad_by_freq divides each row by its index's count in the
// batch, and max_norm first renormalises, in place, the weight rows the indices pick.
#pragma once

#include <cstdint>
#include <optional>

#include "framework/tensor/tensor.h"

namespace tandem {

// indices: int64 or int32, any shape. padding_idx may be negative (counted from the end).
Tensor embedding(const Tensor& indices, const Tensor& weight,
                 std::optional<int64_t> padding_idx = std::nullopt,
                 std::optional<double> max_norm = std::nullopt, double norm_type = 2.0,
                 bool scale_grad_by_freq = false);

// padding_idx checked against num_embeddings as PyTorch ("Padding_idx must be within
// num_embeddings") and wrapped into [0, num_embeddings) when negative.
int64_t embedding_padding_index(int64_t padding_idx, int64_t num_embeddings);

// torch.embedding_renorm_: each distinct row of `weight` that `indices` pick whose norm_type-norm
// exceeds max_norm is scaled by max_norm / (norm + 1e-7), in place and without history.
Tensor& embedding_renorm_(Tensor& weight, const Tensor& indices, double max_norm, double norm_type);

}  // namespace tandem
