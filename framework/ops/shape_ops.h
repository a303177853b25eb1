// Ops that assemble or pick tensors: cat, stack, index_select (differentiable).
#pragma once

#include <vector>

#include "framework/tensor/tensor.h"

namespace tandem {

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);  // index: int64 1-D

}  // namespace tandem
