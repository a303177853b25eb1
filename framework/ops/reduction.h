// Reductions over dims (empty dims = all), with keepdim, differentiable in float32/float64.
#pragma once

#include <utility>

#include "framework/tensor/tensor.h"

namespace tandem {

Tensor sum(const Tensor& x, const Shape& dims = {}, bool keepdim = false);  // bool/int -> int64
Tensor mean(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
// Variance with `correction` (1 = unbiased, PyTorch's default), as torch.var(x, dims, correction=).
Tensor var(const Tensor& x, const Shape& dims = {}, int64_t correction = 1, bool keepdim = false);
// Max over all elements (gradient split evenly among ties, as PyTorch's amax/max()).
Tensor max(const Tensor& x);
// Min over all elements (gradient split evenly among ties, as PyTorch's min()).
Tensor min(const Tensor& x);
// Max along one dim: values and int64 indices (first occurrence); gradient flows to the index.
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);
// amax over dims: gradient split evenly among ties.
Tensor amax(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);

}  // namespace tandem
