// gradcheck: compares autograd's gradients with central finite differences in float64.
//
//   EXPECT_TRUE(gradcheck([](const TensorList& x) { return tandem::exp(x[0]); }, {x}));
//
// For a non-scalar output, both sides use the same fixed random projection v: the analytic
// gradient is backward(v), the numeric one d/dx sum(f(x) * v).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <sstream>

#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/ops/ops.h"

namespace tandem::testing {

using autograd::TensorList;

inline ::testing::AssertionResult gradcheck(const std::function<Tensor(const TensorList&)>& fn,
                                            TensorList inputs, double eps = 1e-6,
                                            double atol = 1e-5, double rtol = 1e-3) {
  for (auto& x : inputs)
    if (x.defined() && x.requires_grad()) x.set_grad(Tensor());
  Tensor out = fn(inputs);
  Generator gen(1234);
  Tensor v = randn(out.sizes(), gen, TensorOptions(DType::Float64));
  out.backward(v);

  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    if (x.dtype() != DType::Float64)
      return ::testing::AssertionFailure() << "input " << k << " is not float64";
    Tensor analytic = x.grad().defined() ? x.grad() : zeros_like(x);
    std::vector<double> a = analytic.to_vector();
    Tensor flat = x.detach().contiguous();
    TANDEM_CHECK(flat.is_same(x.detach().contiguous()) || x.is_contiguous(),
                 "gradcheck: contiguous inputs only");
    double* data = static_cast<double*>(x.raw_data());
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double orig = data[i];
      auto eval = [&](double value) {
        data[i] = value;
        NoGradGuard no_grad;
        return sum(fn(inputs) * v).item();
      };
      const double numeric = (eval(orig + eps) - eval(orig - eps)) / (2 * eps);
      data[i] = orig;
      if (std::abs(numeric - a[i]) > atol + rtol * std::abs(numeric))
        return ::testing::AssertionFailure() << "input " << k << " element " << i << ": analytic "
                                             << a[i] << " vs numeric " << numeric;
    }
  }
  return ::testing::AssertionSuccess();
}

// A float64 leaf with values from randn(gen), requiring grad.
inline Tensor leaf(const Shape& shape, uint64_t seed = 0, double scale = 1.0) {
  Generator gen(seed);
  Tensor t = randn(shape, gen, TensorOptions(DType::Float64));
  if (scale != 1.0) t = t * scale;
  return t.detach().set_requires_grad(true);
}

}  // namespace tandem::testing
