// gradcheck: compares autograd's gradients with central finite differences in float64.
//
//   EXPECT_TRUE(gradcheck([](const TensorList& x) { return tandem::exp(x[0]); }, {x}));
//
// For a non-scalar output, both sides use the same fixed random projection v (made on the
// output's device): the analytic gradient is backward(v), the numeric one d/dx sum(f(x) * v).
// Inputs may live on any device and may be strided views (not overlapping ones: a perturbation
// of one element must change one element): each perturbation is written into the input's own
// memory through a one-element view and the fill kernel of its device, never through a host
// pointer, and the original value (kept in a float64 host copy) is written back the same way.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>

#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/ops/ops.h"

namespace tandem::testing {

using autograd::TensorList;

// True when no two indices of `t` address the same element (no stride-0 or otherwise
// overlapping dims), so writing one element changes exactly one logical element.
inline bool non_overlapping(const Tensor& t) {
  std::vector<std::pair<int64_t, int64_t>> dims;  // (stride, size) of dims with size > 1
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.size(d) > 1) dims.emplace_back(t.stride(d), t.size(d));
  std::sort(dims.begin(), dims.end());
  int64_t span = 1;  // elements spanned by the dims so far
  for (const auto& [stride, size] : dims) {
    if (stride < span) return false;
    span = stride * size;
  }
  return true;
}

// A view of element `i` (row-major over t's logical shape) of `t`, sharing t's memory.
inline Tensor element_view(const Tensor& t, int64_t i) {
  int64_t offset = t.storage_offset();
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    offset += (i % t.size(d)) * t.stride(d);
    i /= t.size(d);
  }
  return t.detach().as_strided({}, {}, offset);
}

inline ::testing::AssertionResult gradcheck(const std::function<Tensor(const TensorList&)>& fn,
                                            TensorList inputs, double eps = 1e-6,
                                            double atol = 1e-5, double rtol = 1e-3) {
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    if (x.dtype() != DType::Float64)
      return ::testing::AssertionFailure() << "input " << k << " is not float64";
    if (!non_overlapping(x))
      return ::testing::AssertionFailure()
             << "input " << k << " has overlapping memory (strides " << shape_str(x.strides())
             << " for sizes " << shape_str(x.sizes()) << ")";
    x.set_grad(Tensor());
  }
  Tensor out = fn(inputs);
  Generator gen(1234);
  Tensor v = randn(out.sizes(), gen, TensorOptions(DType::Float64).with_device(out.device()));
  out.backward(v);

  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    const std::vector<double> a =
        x.grad().defined() ? x.grad().to_vector() : std::vector<double>(size_t(x.numel()), 0.0);
    if (x.grad().defined() && x.grad().device() != x.device())
      return ::testing::AssertionFailure() << "input " << k << " is on " << x.device().str()
                                           << " but its gradient on " << x.grad().device().str();
    const std::vector<double> orig = x.to_vector();  // the host master copy
    for (int64_t i = 0; i < x.numel(); ++i) {
      Tensor element = element_view(x, i);
      auto eval = [&](double value) {
        NoGradGuard no_grad;
        element.fill_(value);
        return sum(fn(inputs) * v).item();
      };
      const double numeric = (eval(orig[i] + eps) - eval(orig[i] - eps)) / (2 * eps);
      {
        NoGradGuard no_grad;
        element.fill_(orig[i]);
      }
      if (std::abs(numeric - a[i]) > atol + rtol * std::abs(numeric))
        return ::testing::AssertionFailure()
               << "input " << k << " element " << i << " on " << x.device().str() << ": analytic "
               << a[i] << " vs numeric " << numeric;
    }
    if (x.to_vector() != orig)
      return ::testing::AssertionFailure() << "input " << k << " was not restored";
  }
  return ::testing::AssertionSuccess();
}

// A float64 leaf on `device` with values from randn(gen) (drawn on the CPU, so every device
// gets the same values), requiring grad.
inline Tensor leaf(const Shape& shape, uint64_t seed = 0, double scale = 1.0,
                   Device device = kCPU) {
  Generator gen(seed);
  Tensor t = randn(shape, gen, TensorOptions(DType::Float64));
  if (scale != 1.0) t = t * scale;
  return t.to(device).detach().set_requires_grad(true);
}
inline Tensor leaf(const Shape& shape, uint64_t seed, Device device) {
  return leaf(shape, seed, 1.0, device);
}

}  // namespace tandem::testing
