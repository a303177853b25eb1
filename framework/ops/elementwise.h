// Broadcasting elementwise ops. All are differentiable in float32/float64; comparisons return
// bool tensors and have no gradient. Broadcasting follows NumPy/PyTorch rules; the gradient of
// a broadcast input is summed back to its shape (sum_to).
#pragma once

#include <optional>

#include "framework/tensor/tensor.h"

namespace tandem {

Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0);  // a + alpha * b
Tensor sub(const Tensor& a, const Tensor& b, double alpha = 1.0);  // a - alpha * b
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& a);
Tensor pow(const Tensor& a, double exponent);
Tensor pow(const Tensor& a, const Tensor& exponent);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor abs(const Tensor& a);
// Gradient passes where min <= a <= max (inclusive at the bounds, as PyTorch).
Tensor clamp(const Tensor& a, std::optional<double> min, std::optional<double> max);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);

// Comparisons (no gradient): bool results.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
bool equal(const Tensor& a, const Tensor& b);  // same shape and identical values

// Broadcast shape of two shapes (error names both shapes).
Shape broadcast_shapes(const Shape& a, const Shape& b);
// Sums `t` down to `shape` (the reverse of broadcasting), used by backward of broadcasting ops.
Tensor sum_to(const Tensor& t, const Shape& shape);

}  // namespace tandem
