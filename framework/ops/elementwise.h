// Broadcasting elementwise ops. All are differentiable in float32/float64; comparisons return
// bool tensors and have no gradient. Broadcasting follows NumPy/PyTorch rules; the gradient of
// a broadcast input is summed back to its shape (sum_to).
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>

#include "framework/tensor/tensor.h"

namespace tandem {

Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0);  // a + alpha * b
Tensor sub(const Tensor& a, const Tensor& b, double alpha = 1.0);  // a - alpha * b
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& a);
// x ** e with a floating exponent (a Python float): an integer tensor's power is float32.
Tensor pow(const Tensor& a, double exponent);
// x ** e with an integer exponent (a Python int): an integer tensor stays integer and wraps around
// as PyTorch's (a bool one becomes int64); a negative exponent, or one the type cannot hold, is
// refused in PyTorch's words. A floating tensor takes it as pow(a, double(e)). An int64 exponent
// beyond 2^53 reaches the kernel rounded to a double.
Tensor pow_integer_exponent(const Tensor& a, int64_t exponent);
template <std::integral I>
Tensor pow(const Tensor& a, I exponent) {
  return pow_integer_exponent(a, int64_t(exponent));
}
// Tensor ** tensor. Integer tensors wrap around, and a negative exponent gives 1 for a base of 1,
// +-1 for -1 and 0 otherwise, as PyTorch's.
Tensor pow(const Tensor& a, const Tensor& exponent);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor sign(const Tensor& a);  // -1, 0 or 1 in a's dtype (NaN and -0.0 give 0.0); gradient 0
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
