// Ops on a device against the same ops on the CPU, for what the PyTorch fixtures do not cover:
// strided inputs (transposed, sliced, expanded, broadcast) to the elementwise ops, reductions
// over several dims, matrix products of transposed views, copies between devices (strided,
// broadcast, dtype-converting, into strided destinations, round trips of every dtype), in-place
// ops writing into the tensor's own memory, empty tensors, odd sizes, and the error for inputs
// on two devices.
//
// Each check makes its inputs on the host, runs the op on them (the reference) and on their
// copies on the test's device, and compares. On the emulated device the two must be
// bit-identical (its kernels are the CPU kernels); on a real GPU the comparison allows a
// tolerance per dtype (exact for integer and bool results and for copies).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "framework/autograd/grad_mode.h"
#include "framework/ops/ops.h"
#include "kernels/device/runtime.h"
#include "kernels/emulated/emulated_runtime.h"
#include "tests/device_compare.h"
#include "tests/device_test.h"
#include "tests/error_text.h"

using namespace tandem;
using tandem::testing::DeviceTest;
using tandem::testing::throws_with;

namespace {

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

struct Tolerance {
  double rtol = 0, atol = 0;
  bool exact() const { return rtol == 0 && atol == 0; }
};

const Tolerance kExact{};

// How far a real GPU may stray from the CPU in `dtype`.
Tolerance tolerance_for(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return {1e-5, 1e-6};
    case DType::Float64:
      return {1e-12, 1e-12};
    case DType::Float16:
      return {1e-3, 1e-3};
    case DType::BFloat16:
      return {1e-2, 1e-2};
    default:
      return kExact;  // integer and bool results
  }
}

const std::vector<DType> kAllDtypes = {
    DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int64,
    DType::Int32,   DType::Int16,   DType::Int8,    DType::UInt8,    DType::Bool};

// `got` (on any device) has `want`'s shape, dtype and values. Bit for bit when `tol` is exact
// or when no GPU kernel took part (the emulated device runs the CPU kernels); else within `tol`,
// whose atol is relative to the largest magnitude in `want` (a sum of many terms that nearly
// cancel carries the rounding of its terms, not of its result). NaN matches NaN.
::testing::AssertionResult same_values(const Tensor& got, const Tensor& want, Tolerance tol) {
  if (got.sizes() != want.sizes())
    return ::testing::AssertionFailure()
           << "shape " << shape_str(got.sizes()) << ", want " << shape_str(want.sizes());
  if (got.dtype() != want.dtype())
    return ::testing::AssertionFailure()
           << "dtype " << dtype_name(got.dtype()) << ", want " << dtype_name(want.dtype());
  const bool exact = tol.exact() || tandem::testing::bit_identical_on(got.device());
  const std::vector<double> g = got.cpu().to_vector(), w = want.cpu().to_vector();
  double scale = 1;
  for (double x : w)
    if (std::isfinite(x)) scale = std::max(scale, std::abs(x));
  for (size_t i = 0; i < w.size(); ++i) {
    if (std::isnan(w[i]) && std::isnan(g[i])) continue;
    const bool ok = exact || !std::isfinite(w[i])
                        ? g[i] == w[i]
                        : std::abs(g[i] - w[i]) <= tol.atol * scale + tol.rtol * std::abs(w[i]);
    if (!ok)
      return ::testing::AssertionFailure() << "element " << i << ": " << g[i] << ", want " << w[i]
                                           << (exact ? " (exactly)" : " (within tolerance)");
  }
  return ::testing::AssertionSuccess();
}

Tensor host_randn(const Shape& shape, uint64_t seed, DType dtype = DType::Float32) {
  Generator gen(seed);
  return randn(shape, gen, TensorOptions(dtype));
}

// Integers in [lo, hi) as `dtype`, on the host.
Tensor host_ints(const Shape& shape, uint64_t seed, DType dtype = DType::Int64, int lo = -5,
                 int hi = 5) {
  Generator gen(seed);
  const Tensor u = rand(shape, gen, TensorOptions(DType::Float64));
  std::vector<double> v = u.to_vector();
  for (double& x : v) x = std::floor(lo + x * (hi - lo));
  return from_vector(v, shape, TensorOptions(DType::Float64)).to(dtype);
}

class DeviceOps : public DeviceTest {
 protected:
  TensorOptions on(DType dtype = DType::Float32) const { return TensorOptions(dtype, device()); }

  std::vector<Tensor> to_device(const std::vector<Tensor>& host) const {
    std::vector<Tensor> out;
    for (const Tensor& h : host) out.push_back(h.to(device()));
    return out;
  }

  // Pooling, upsampling and training batch norm (kernels a GPU writes itself, staging the half
  // types through float32) on x, a (2, 4, 5, 6) tensor read as (N, C, W, H) through a transpose;
  // batch norm's weight and bias are drawn from `seed` and `seed + 1`.
  void expect_channel_families_like_cpu(const std::string& s, const Tensor& x,
                                        uint64_t seed) const {
    auto nchw = [](const Tensor& t) { return t.transpose(2, 3); };
    expect_grads_like_cpu("max_pool2d" + s,
                          [&](const auto& v) {
                            return max_pool2d(nchw(v[0]), {2, 2}, {1, 2}, {1, 1});
                          },
                          {x});
    expect_grads_like_cpu("avg_pool2d" + s,
                          [&](const auto& v) {
                            return avg_pool2d(nchw(v[0]), {3, 2}, {2, 1});
                          },
                          {x});
    expect_grads_like_cpu("adaptive_avg_pool2d" + s,
                          [&](const auto& v) {
                            return adaptive_avg_pool2d(nchw(v[0]), {4, 3});
                          },
                          {x});
    expect_grads_like_cpu("interpolate bilinear" + s,
                          [&](const auto& v) {
                            return interpolate(nchw(v[0]), Pair{7, 9}, {}, "bilinear");
                          },
                          {x});
    expect_grads_like_cpu("interpolate nearest" + s,
                          [&](const auto& v) {
                            return interpolate(nchw(v[0]), {}, UpsampleScale{2, 2}, "nearest");
                          },
                          {x});
    expect_grads_like_cpu(
        "batch_norm train" + s,
        [&](const auto& v) { return batch_norm(nchw(v[0]), {}, {}, v[1], v[2], true); },
        {x, host_randn({4}, seed, x.dtype()), host_randn({4}, seed + 1, x.dtype())});
  }

  // fn on the host inputs and on their device copies gives the same result, on the device.
  void expect_like_cpu(const std::string& what, const TensorFn& fn, const std::vector<Tensor>& host,
                       std::optional<Tolerance> tol = std::nullopt) const {
    try {
      compare_with_cpu(what, fn, host, tol);
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": " << e.what();
    }
  }

  // The same for a differentiable fn: forward and the gradients of (fn * v).sum() with respect
  // to every floating input (each a leaf on its device).
  void expect_grads_like_cpu(const std::string& what, const TensorFn& fn,
                             const std::vector<Tensor>& host) const {
    try {
      compare_grads_with_cpu(what, fn, host);
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": " << e.what();
    }
  }

 private:
  void compare_with_cpu(const std::string& what, const TensorFn& fn,
                        const std::vector<Tensor>& host, std::optional<Tolerance> tol) const {
    SCOPED_TRACE(what);
    const Tensor want = fn(host);
    const Tensor got = fn(to_device(host));
    EXPECT_EQ(got.device(), device());
    EXPECT_TRUE(same_values(got, want, tol.value_or(tolerance_for(want.dtype()))));
  }

  void compare_grads_with_cpu(const std::string& what, const TensorFn& fn,
                              const std::vector<Tensor>& host) const {
    SCOPED_TRACE(what);
    auto leaves = [](std::vector<Tensor> in) {
      for (Tensor& t : in)
        if (is_floating(t.dtype())) t = t.detach().clone().set_requires_grad(true);
      return in;
    };
    const std::vector<Tensor> h = leaves(host), d = leaves(to_device(host));
    const Tensor want = fn(h), got = fn(d);
    EXPECT_EQ(got.device(), device());
    EXPECT_TRUE(same_values(got, want, tolerance_for(want.dtype()))) << "forward";
    const Tensor v = host_randn(want.sizes(), 99, want.dtype());
    (want * v).sum().backward();
    (got * v.to(device())).sum().backward();
    for (size_t i = 0; i < h.size(); ++i) {
      if (!h[i].requires_grad()) continue;
      // An input the op does not differentiate (e.g. running statistics) gets no gradient on
      // either device.
      ASSERT_EQ(h[i].grad().defined(), d[i].grad().defined()) << "input " << i;
      if (!h[i].grad().defined()) continue;
      EXPECT_EQ(d[i].grad().device(), device()) << "grad of input " << i;
      EXPECT_TRUE(same_values(d[i].grad(), h[i].grad(), tolerance_for(h[i].dtype())))
          << "grad of input " << i;
    }
  }
};

}  // namespace

// --- elementwise on strided inputs -----------------------------------------------------------

TEST_P(DeviceOps, UnaryOnStridedInputs) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    const Tensor a = host_randn({4, 6}, 1, dt);
    // Each view of `a`: transposed, sliced with a step, a column (non-unit stride), permuted.
    const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> views = {
        {"t", [](const Tensor& x) { return x.t(); }},
        {"slice", [](const Tensor& x) { return x.slice(1, 1, 6, 2); }},
        {"column", [](const Tensor& x) { return x.select(1, 3); }},
        {"permute3d",
         [](const Tensor& x) {
           return x.reshape({2, 2, 6}).permute({2, 0, 1});
         }},
    };
    const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> ops = {
        {"exp", [](const Tensor& x) { return exp(x); }},
        {"neg", [](const Tensor& x) { return neg(x); }},
        {"abs", [](const Tensor& x) { return abs(x); }},
        {"log", [](const Tensor& x) { return log(abs(x) + 0.1); }},
        {"sqrt", [](const Tensor& x) { return sqrt(abs(x)); }},
        {"pow", [](const Tensor& x) { return pow(x, 3.0); }},
        {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.7); }},
        {"relu", [](const Tensor& x) { return relu(x); }},
        {"leaky_relu", [](const Tensor& x) { return leaky_relu(x, 0.2); }},
        {"gelu", [](const Tensor& x) { return gelu(x); }},
        {"gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); }},
        {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
        {"tanh", [](const Tensor& x) { return tandem::tanh(x); }},
    };
    // (Named variables, not structured bindings: clang 14 cannot capture those in a lambda.)
    for (const auto& v : views)
      for (const auto& o : ops) {
        const auto& view = v.second;
        const auto& op = o.second;
        expect_grads_like_cpu(o.first + " of " + v.first + " " + dtype_name(dt),
                              [&](const auto& x) { return op(view(x[0])); }, {a});
      }
  }
}

TEST_P(DeviceOps, BinaryOnStridedAndBroadcastInputs) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    const Tensor a = host_randn({4, 6}, 2, dt), b = host_randn({6, 4}, 3, dt),
                 row = host_randn({4}, 4, dt), col = host_randn({6, 1}, 5, dt),
                 pos = abs(host_randn({6, 4}, 6, dt)) + 0.5;
    const std::string s = dtype_name(dt);
    // a.t() is a transposed view; b.slice a stepped one; row.expand a stride-0 one.
    expect_grads_like_cpu("add t", [](const auto& x) { return add(x[0].t(), x[1], 0.5); }, {a, b});
    expect_grads_like_cpu("sub broadcast", [](const auto& x) { return x[0].t() - x[1]; }, {a, row});
    expect_grads_like_cpu("mul col", [](const auto& x) { return x[0] * x[1].t(); }, {col, a});
    expect_grads_like_cpu("div expand",
                          [](const auto& x) {
                            return x[0].t() / x[1].expand({6, 4});
                          },
                          {a, abs(col) + 0.5});
    expect_grads_like_cpu("mul slices",
                          [](const auto& x) {
                            return x[0].slice(0, 0, 4, 2).slice(1, 0, 6, 2) *
                                   x[1].slice(0, 1, 4, 2).slice(1, 1, 6, 2);
                          },
                          {a, b.t().contiguous()});
    expect_grads_like_cpu("maximum", [](const auto& x) { return maximum(x[0].t(), x[1]); }, {a, b});
    expect_grads_like_cpu("pow tensor", [](const auto& x) { return pow(x[0], x[1].t()); },
                          {pos, a});
    expect_grads_like_cpu(
        "where", [](const auto& x) { return where(gt(x[0].t(), x[1]), x[0].t(), x[1]); }, {a, b});
    expect_grads_like_cpu(
        "3d permute broadcast",
        [](const auto& x) {
          return x[0].reshape({2, 3, 4}).permute({2, 0, 1}) * x[1].reshape({4, 1, 1});
        },
        {b, row});
    for (const auto& named :
         std::vector<std::pair<std::string, Tensor (*)(const Tensor&, const Tensor&)>>{
             {"eq", eq}, {"ne", ne}, {"lt", lt}, {"le", le}, {"gt", gt}, {"ge", ge}}) {
      const std::string& name = named.first;
      const auto op = named.second;
      // Rounded values so that equality occurs.
      expect_like_cpu(name + " " + s,
                      [op](const auto& x) {
                        return op(x[0].t(), x[1].expand({6, 4}));
                      },
                      {host_ints({4, 6}, 7).to(dt), host_ints({6, 1}, 8).to(dt)});
    }
  }
}

TEST_P(DeviceOps, IntegerElementwise) {
  for (DType dt : {DType::Int64, DType::Int32}) {
    const Tensor a = host_ints({4, 5}, 10, dt), b = host_ints({5, 4}, 11, dt),
                 r = host_ints({5}, 12, dt);
    const std::string s = dtype_name(dt);
    expect_like_cpu("add " + s, [](const auto& x) { return add(x[0].t(), x[1], 2.0); }, {a, b});
    expect_like_cpu("sub " + s, [](const auto& x) { return x[0] - x[1]; }, {a, r});
    expect_like_cpu("mul " + s, [](const auto& x) { return x[0].t() * x[1]; }, {a, b});
    expect_like_cpu("neg " + s, [](const auto& x) { return neg(x[0].t()); }, {a});
    expect_like_cpu("abs " + s, [](const auto& x) { return abs(x[0].slice(0, 1, 4, 2)); }, {a});
    expect_like_cpu("maximum " + s, [](const auto& x) { return maximum(x[0].t(), x[1]); }, {a, b});
    expect_like_cpu("div " + s + " promotes",
                    [](const auto& x) { return x[0] / (x[1] * x[1] + 1.0); }, {a, r});
    expect_like_cpu("eq " + s, [](const auto& x) { return eq(x[0], x[1]); }, {a, r});
    expect_like_cpu("where " + s, [](const auto& x) { return where(gt(x[0], x[1]), x[0], x[1]); },
                    {a, r});
  }
  // Mixed dtypes promote on the device as on the host.
  expect_like_cpu("int64 + float32", [](const auto& x) { return x[0] + x[1]; },
                  {host_ints({3, 4}, 13), host_randn({4}, 14)});
  expect_like_cpu(
      "bool * float64", [](const auto& x) { return x[0] * x[1]; },
      {gt(host_randn({3, 4}, 15), host_randn({3, 4}, 16)), host_randn({3, 4}, 17, DType::Float64)});
}

// --- reductions -------------------------------------------------------------------------------

TEST_P(DeviceOps, ReductionsOverSeveralDims) {
  const std::vector<Shape> dim_sets = {{}, {0}, {1}, {2}, {-1}, {0, 2}, {1, 2}, {0, 1, 2}};
  for (DType dt : {DType::Float32, DType::Float64}) {
    const Tensor x = host_randn({3, 4, 5}, 20, dt);
    // Contiguous, permuted (non-contiguous) and sliced inputs of the same shape class.
    const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> views = {
        {"contiguous", [](const Tensor& t) { return t; }},
        {"permuted",
         [](const Tensor& t) {
           return t.permute({2, 0, 1});
         }},
        {"sliced", [](const Tensor& t) { return t.slice(2, 0, 5, 2); }},
    };
    for (const auto& v : views)
      for (const Shape& dims : dim_sets)
        for (bool keep : {false, true}) {
          const auto& view = v.second;
          const std::string w =
              v.first + " dims " + shape_str(dims) + (keep ? " keepdim " : " ") + dtype_name(dt);
          expect_grads_like_cpu("sum " + w,
                                [&](const auto& in) { return sum(view(in[0]), dims, keep); }, {x});
          expect_grads_like_cpu("mean " + w,
                                [&](const auto& in) { return mean(view(in[0]), dims, keep); }, {x});
          expect_grads_like_cpu(
              "var " + w, [&](const auto& in) { return var(view(in[0]), dims, 1, keep); }, {x});
          expect_grads_like_cpu(
              "var0 " + w, [&](const auto& in) { return var(view(in[0]), dims, 0, keep); }, {x});
          if (!dims.empty())
            expect_grads_like_cpu(
                "amax " + w, [&](const auto& in) { return amax(view(in[0]), dims, keep); }, {x});
        }
    for (const auto& v : views) {
      const std::string& vname = v.first;
      const auto& view = v.second;
      expect_grads_like_cpu("max all " + vname, [&](const auto& in) { return max(view(in[0])); },
                            {x});
      for (int64_t d : {0, 1, 2, -1})
        for (bool keep : {false, true}) {
          const std::string w = vname + " dim " + std::to_string(d) + (keep ? " keepdim" : "");
          expect_grads_like_cpu("max values " + w,
                                [&](const auto& in) { return max(view(in[0]), d, keep).first; },
                                {x});
          expect_like_cpu("max indices " + w,
                          [&](const auto& in) { return max(view(in[0]), d, keep).second; }, {x});
          expect_like_cpu("argmax " + w,
                          [&](const auto& in) { return argmax(view(in[0]), d, keep); }, {x});
        }
    }
  }
  // Ties (a coarse grid) and NaN: the same first index and the same split gradient.
  const Tensor ties = host_ints({3, 4, 5}, 21, DType::Float64, 0, 3);
  expect_grads_like_cpu("amax ties",
                        [](const auto& in) {
                          return amax(in[0], {0, 2}, true);
                        },
                        {ties});
  expect_like_cpu("argmax ties", [](const auto& in) { return argmax(in[0].t(), 1); },
                  {ties.reshape({12, 5})});
  expect_like_cpu("max nan", [](const auto& in) { return max(in[0], 1).first; },
                  {from_vector(std::vector<double>{1, NAN, 3, 4, 5, NAN}, {2, 3})});
  // Integer and bool inputs sum into int64.
  for (DType dt : {DType::Int64, DType::Int32, DType::UInt8, DType::Bool}) {
    const Tensor i = host_ints({3, 4, 5}, 22, dt, 0, 3);
    for (const Shape& dims : dim_sets)
      expect_like_cpu(std::string("sum ") + dtype_name(dt) + " " + shape_str(dims),
                      [&](const auto& in) {
                        return sum(in[0].permute({1, 2, 0}), dims);
                      },
                      {i});
    if (dt != DType::Bool && dt != DType::UInt8) {
      expect_like_cpu(std::string("amax ") + dtype_name(dt),
                      [](const auto& in) { return amax(in[0], {1}); }, {i});
      expect_like_cpu(std::string("argmax ") + dtype_name(dt),
                      [](const auto& in) { return argmax(in[0], 2); }, {i});
    }
  }
}

// --- matrix products of views ----------------------------------------------------------------

TEST_P(DeviceOps, MatmulOfTransposedViews) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    const Tensor a = host_randn({3, 4}, 30, dt), at = host_randn({4, 3}, 31, dt),
                 b = host_randn({4, 5}, 32, dt), bt = host_randn({5, 4}, 33, dt),
                 rows = host_randn({6, 4}, 34, dt);
    const std::string s = std::string(" ") + dtype_name(dt);
    expect_grads_like_cpu("mm" + s, [](const auto& x) { return mm(x[0], x[1]); }, {a, b});
    expect_grads_like_cpu("mm a.t()" + s, [](const auto& x) { return mm(x[0].t(), x[1]); },
                          {at, b});
    expect_grads_like_cpu("mm b.t()" + s, [](const auto& x) { return mm(x[0], x[1].t()); },
                          {a, bt});
    expect_grads_like_cpu("mm both t" + s, [](const auto& x) { return mm(x[0].t(), x[1].t()); },
                          {at, bt});
    expect_grads_like_cpu("mm stepped rows" + s,
                          [](const auto& x) { return mm(x[0].slice(0, 0, 6, 2), x[1]); },
                          {rows, b});
    const Tensor ba = host_randn({2, 4, 3}, 35, dt), bb = host_randn({2, 5, 4}, 36, dt);
    expect_grads_like_cpu(
        "bmm transposed" + s,
        [](const auto& x) { return matmul(x[0].transpose(1, 2), x[1].transpose(1, 2)); }, {ba, bb});
    expect_grads_like_cpu("bmm permuted batch" + s,
                          [](const auto& x) {
                            return matmul(x[0].permute({1, 0, 2}), x[1]);
                          },
                          {host_randn({3, 2, 4}, 37, dt), host_randn({2, 4, 5}, 38, dt)});
    expect_grads_like_cpu("matmul broadcast batch" + s,
                          [](const auto& x) { return matmul(x[0], x[1].transpose(-1, -2)); },
                          {host_randn({2, 1, 3, 4}, 39, dt), host_randn({5, 2, 4}, 40, dt)});
    expect_grads_like_cpu("matmul expanded batch" + s,
                          [](const auto& x) {
                            return matmul(x[0].expand({3, 3, 4}), x[1]);
                          },
                          {a, host_randn({3, 4, 2}, 41, dt)});
    expect_grads_like_cpu("matmul vector" + s,
                          [](const auto& x) { return matmul(x[0].t(), x[1].select(1, 2)); },
                          {at, b});
    expect_grads_like_cpu("linear t" + s,
                          [](const auto& x) { return linear(x[0].t(), x[1], x[2]); },
                          {host_randn({4, 3}, 42, dt), bt, host_randn({5}, 43, dt)});
  }
}

// --- the other families on strided inputs ----------------------------------------------------

TEST_P(DeviceOps, OtherFamiliesOnStridedInputs) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    const std::string s = std::string(" ") + dtype_name(dt);
    const Tensor x = host_randn({2, 4, 5, 6}, 130, dt);  // read as (N, C, W, H) through a transpose
    const Tensor w = host_randn({3, 4, 3, 3}, 131, dt), b = host_randn({3}, 132, dt);
    auto nchw = [](const Tensor& t) { return t.transpose(2, 3); };
    expect_grads_like_cpu("softmax" + s, [](const auto& v) { return softmax(v[0].t(), 1); },
                          {host_randn({5, 3}, 133, dt)});
    expect_grads_like_cpu("log_softmax" + s,
                          [](const auto& v) {
                            return log_softmax(v[0].permute({2, 0, 1}), 0);
                          },
                          {host_randn({2, 3, 4}, 134, dt)});
    expect_grads_like_cpu("conv2d" + s,
                          [&](const auto& v) {
                            return conv2d(nchw(v[0]), v[1], v[2], {1, 2}, {1, 0});
                          },
                          {x, w, b});
    expect_grads_like_cpu("conv2d strided weight" + s,
                          [&](const auto& v) { return conv2d(v[0], v[1].transpose(0, 1)); },
                          {x, host_randn({4, 3, 2, 2}, 135, dt)});
    expect_grads_like_cpu("conv_transpose2d" + s,
                          [&](const auto& v) {
                            return conv_transpose2d(nchw(v[0]), v[1], {}, {2, 2});
                          },
                          {x, host_randn({4, 2, 3, 3}, 136, dt)});
    expect_channel_families_like_cpu(s, x, 137);
    {
      // Running statistics are updated in place on the tensors' device.
      const Tensor rm = host_randn({4}, 139, dt), rv = abs(host_randn({4}, 140, dt)) + 0.5;
      Tensor rm_h = rm.clone(), rv_h = rv.clone(), rm_d = rm.to(device()), rv_d = rv.to(device());
      const void* address = rm_d.raw_data();
      const Tensor yh = batch_norm(nchw(x), rm_h, rv_h, {}, {}, true, 0.3);
      const Tensor yd = batch_norm(nchw(x.to(device())), rm_d, rv_d, {}, {}, true, 0.3);
      EXPECT_TRUE(same_values(yd, yh, tolerance_for(dt))) << "batch_norm with running stats" << s;
      EXPECT_EQ(rm_d.raw_data(), address);
      EXPECT_TRUE(same_values(rm_d, rm_h, tolerance_for(dt))) << "running_mean" << s;
      EXPECT_TRUE(same_values(rv_d, rv_h, tolerance_for(dt))) << "running_var" << s;
      expect_grads_like_cpu(
          "batch_norm eval" + s,
          [&](const auto& v) { return batch_norm(nchw(v[0]), v[1], v[2], v[3], {}, false); },
          {x, rm, rv, host_randn({4}, 141, dt)});
    }
    const Tensor logits = host_randn({6, 4}, 142, dt);
    const Tensor target = host_ints({6}, 143, DType::Int64, 0, 4);
    expect_grads_like_cpu("cross_entropy" + s,
                          [](const auto& v) {
                            return cross_entropy(v[0].t().t().slice(0, 0, 6, 2),
                                                 v[1].slice(0, 0, 6, 2), v[2], Reduction::Mean,
                                                 -100, 0.1);
                          },
                          {logits, target, abs(host_randn({4}, 144, dt)) + 0.5});
    expect_grads_like_cpu(
        "cross_entropy spatial" + s,
        [](const auto& v) {
          return cross_entropy(v[0].permute({0, 3, 1, 2}), v[1], {}, Reduction::Sum);
        },
        {host_randn({2, 3, 2, 4}, 145, dt), host_ints({2, 3, 2}, 146, DType::Int64, 0, 4)});
    expect_grads_like_cpu(
        "nll_loss" + s, [](const auto& v) { return nll_loss(v[0].t(), v[1], {}, Reduction::None); },
        {host_randn({4, 6}, 147, dt), target});
    expect_grads_like_cpu("mse_loss" + s, [](const auto& v) { return mse_loss(v[0].t(), v[1]); },
                          {logits, host_randn({4, 6}, 148, dt)});
    expect_grads_like_cpu("cat" + s,
                          [](const auto& v) {
                            return cat({v[0].t(), v[1], v[0].t()}, 1);
                          },
                          {logits, host_randn({4, 2}, 149, dt)});
    expect_grads_like_cpu("stack" + s,
                          [](const auto& v) {
                            return stack({v[0].t(), v[1]}, 1);
                          },
                          {logits, host_randn({4, 6}, 150, dt)});
    expect_grads_like_cpu(
        "index_select" + s,
        [](const auto& v) { return index_select(v[0].t(), 1, v[1].slice(0, 0, 6, 2)); },
        {logits, host_ints({6}, 151, DType::Int64, 0, 4)});
  }
  // Dropout draws its mask on the host: the same mask on every device.
  Generator g1(7), g2(7);
  const Tensor x = host_randn({8, 9}, 152);
  const Tensor yh = dropout(x.t(), 0.3, true, g1);
  const Tensor yd = dropout(x.to(device()).t(), 0.3, true, g2);
  EXPECT_EQ(yd.device(), device());
  EXPECT_TRUE(same_values(yd, yh, tolerance_for(DType::Float32))) << "dropout";
}

// float16 and bfloat16 in the families a GPU stages through float32 (kernels/cuda/float_staging.h:
// softmax, pooling, upsampling, batch norm) and in those that take them natively (elementwise,
// reductions, cat): each rounds once from float32, as the CPU does.
TEST_P(DeviceOps, HalfPrecisionFamiliesOnStridedInputs) {
  for (DType dt : {DType::Float16, DType::BFloat16}) {
    const std::string s = std::string(" ") + dtype_name(dt);
    const Tensor x = host_randn({2, 4, 5, 6}, 160, dt);  // read as (N, C, W, H) through a transpose
    auto nchw = [](const Tensor& t) { return t.transpose(2, 3); };
    expect_grads_like_cpu("softmax" + s, [](const auto& v) { return softmax(v[0].t(), 1); },
                          {host_randn({5, 3}, 161, dt)});
    expect_grads_like_cpu("log_softmax" + s,
                          [](const auto& v) {
                            return log_softmax(v[0].permute({2, 0, 1}), 0);
                          },
                          {host_randn({2, 3, 4}, 162, dt)});
    expect_channel_families_like_cpu(s, x, 163);
    expect_grads_like_cpu(
        "batch_norm eval" + s,
        [&](const auto& v) { return batch_norm(nchw(v[0]), v[1], v[2], v[3], {}, false); },
        {x, host_randn({4}, 165, dt), abs(host_randn({4}, 166, dt)) + 0.5,
         host_randn({4}, 167, dt)});
    expect_grads_like_cpu("mul broadcast" + s, [](const auto& v) { return v[0].t() * v[1]; },
                          {host_randn({4, 3}, 168, dt), host_randn({4}, 169, dt)});
    expect_grads_like_cpu("exp" + s, [&](const auto& v) { return exp(nchw(v[0])); }, {x});
    expect_grads_like_cpu("sum" + s, [&](const auto& v) { return sum(nchw(v[0]), {1, 3}); }, {x});
    expect_grads_like_cpu("amax" + s, [&](const auto& v) { return amax(nchw(v[0]), {2}); }, {x});
    expect_grads_like_cpu("cat" + s,
                          [](const auto& v) {
                            return cat({v[0].t(), v[1]}, 1);
                          },
                          {host_randn({3, 4}, 170, dt), host_randn({4, 2}, 171, dt)});
  }
}

// --- copies between devices ------------------------------------------------------------------

TEST_P(DeviceOps, RoundTripOfEveryDtype) {
  // Values every dtype holds (no out-of-range conversion, whose result C++ leaves open).
  const std::vector<double> values = {0, 1, -1, 2.5, -3.75, 100, 0.1, 7, -128, 127, 1e-3, -0.5};
  for (DType dt : kAllDtypes)
    for (const Shape& shape : {Shape{}, Shape{1}, Shape{3}, Shape{257}, Shape{2, 3, 5}}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " + shape_str(shape));
      std::vector<double> v(size_t(shape_numel(shape)));
      for (size_t i = 0; i < v.size(); ++i) {
        v[i] = values[i % values.size()];
        if (dt == DType::UInt8) v[i] = std::abs(v[i]) + double(i % 100);
      }
      const Tensor host = from_vector(v, shape, TensorOptions(DType::Float64)).to(dt);
      const Tensor on_device = host.to(device());
      EXPECT_EQ(on_device.device(), device());
      EXPECT_EQ(on_device.dtype(), dt);
      const Tensor back = on_device.cpu();
      EXPECT_TRUE(back.is_cpu());
      ASSERT_EQ(back.nbytes(), host.nbytes());
      EXPECT_EQ(std::memcmp(back.raw_data(), host.raw_data(), host.nbytes()), 0);
      EXPECT_TRUE(same_values(on_device.clone(), host, kExact)) << "clone on the device";
    }
}

TEST_P(DeviceOps, CopiesOfStridedAndBroadcastSources) {
  const Tensor h = host_randn({4, 6}, 50);
  // Strided host source -> device, and strided device source -> host.
  EXPECT_TRUE(same_values(h.t().to(device()), h.t().contiguous(), kExact));
  EXPECT_TRUE(
      same_values(h.slice(1, 1, 6, 2).to(device()), h.slice(1, 1, 6, 2).contiguous(), kExact));
  const Tensor d = h.to(device());
  EXPECT_TRUE(same_values(d.t().cpu(), h.t().contiguous(), kExact));
  EXPECT_TRUE(same_values(d.select(1, 2).cpu(), h.select(1, 2).contiguous(), kExact));
  EXPECT_TRUE(same_values(d.t().contiguous(), h.t().contiguous(), kExact));
  EXPECT_TRUE(same_values(d.permute({1, 0}).reshape({24}), h.t().reshape({24}), kExact));
  // Broadcast sources into copy_: host -> device, device -> host, device -> device.
  const Tensor row = host_randn({6}, 51);
  Tensor dst = zeros({4, 6}, on());
  dst.copy_(row);
  EXPECT_TRUE(same_values(dst, row.expand({4, 6}).contiguous(), kExact));
  Tensor host_dst = zeros({4, 6});
  host_dst.copy_(row.to(device()).unsqueeze(0));
  EXPECT_TRUE(same_values(host_dst, row.expand({4, 6}).contiguous(), kExact));
  Tensor dst2 = zeros({3, 4, 6}, on());
  dst2.copy_(d.t().t());  // broadcast along the new leading dim, on the device
  EXPECT_TRUE(same_values(dst2, h.expand({3, 4, 6}).contiguous(), kExact));
  EXPECT_TRUE(
      same_values(row.expand({4, 6}).to(device()), row.expand({4, 6}).contiguous(), kExact));
  EXPECT_TRUE(same_values(row.to(device()).expand({4, 6}).contiguous(),
                          row.expand({4, 6}).contiguous(), kExact));
  EXPECT_TRUE(same_values(d.t().reshape({24}), h.t().reshape({24}), kExact));
  EXPECT_TRUE(same_values(d.t().clone(), h.t().clone(), kExact));
}

// Page-locked host memory on either side of a copy (when the device can pin memory).
TEST_P(DeviceOps, CopiesThroughPinnedMemory) {
  if (!device().is_cuda()) GTEST_SKIP() << "pinned memory is for copies to a cuda device";
  const Tensor h = host_randn({3, 7}, 55);
  Tensor pinned = empty_pinned({3, 7});
  EXPECT_TRUE(pinned.is_pinned());
  pinned.copy_(h);
  const Tensor d = pinned.to(device());
  EXPECT_TRUE(same_values(d, h, kExact));
  Tensor back = empty_pinned({7, 3}, DType::Float64);
  back.copy_(d.t());
  EXPECT_TRUE(same_values(back, h.t().to(DType::Float64), kExact));
}

TEST_P(DeviceOps, DtypeConvertingCopies) {
  // Values in [-100, 100) with fractions ([0, 100) when either side is uint8): every dtype
  // holds them, so no conversion is out of range (whose result C++ leaves open).
  Generator gen(52);
  const Tensor h = rand({3, 5}, gen, TensorOptions(DType::Float64)) * 200.0 - 100.0;
  for (DType from : kAllDtypes)
    for (DType to : kAllDtypes) {
      SCOPED_TRACE(std::string(dtype_name(from)) + " -> " + dtype_name(to));
      const bool unsigned_side = from == DType::UInt8 || to == DType::UInt8;
      const Tensor src = (unsigned_side ? abs(h) : h).to(from);  // host
      const Tensor want = src.to(to);                            // the host's conversion
      // device -> device (the copy kernel), host -> device, device -> host; strided sources.
      EXPECT_TRUE(same_values(src.to(device()).to(to), want, kExact)) << "on the device";
      EXPECT_TRUE(same_values(src.t().to(device(), to), want.t().contiguous(), kExact))
          << "host to device";
      EXPECT_TRUE(same_values(src.to(device()).t().to(kCPU, to), want.t().contiguous(), kExact))
          << "device to host";
    }
}

TEST_P(DeviceOps, CopiesIntoStridedDestinations) {
  const Tensor src = host_randn({4, 5}, 53, DType::Float64);
  // A transposed destination on the device, from the host, converting float64 -> float32.
  {
    Tensor base = zeros({5, 4}, on());
    Tensor dst = base.t();
    dst.copy_(src);
    EXPECT_TRUE(same_values(base, src.to(DType::Float32).t().contiguous(), kExact));
  }
  // A stepped slice of a device tensor, from the device; the other columns stay zero.
  {
    Tensor base = zeros({4, 10}, on(DType::Float64));
    base.slice(1, 0, 10, 2).copy_(src.to(device()));
    Tensor want = zeros({4, 10}, TensorOptions(DType::Float64));
    want.slice(1, 0, 10, 2).copy_(src);
    EXPECT_TRUE(same_values(base, want, kExact));
  }
  // A strided host destination, from the device, converting to int64.
  {
    Tensor base = zeros({5, 4}, TensorOptions(DType::Int64));
    base.t().copy_((src * 10.0).to(device()));
    Tensor want = zeros({5, 4}, TensorOptions(DType::Int64));
    want.t().copy_(src * 10.0);
    EXPECT_TRUE(same_values(base, want, kExact));
  }
  // A column of a device tensor from a broadcast host scalar-like source.
  {
    Tensor base = zeros({3, 4}, on());
    base.select(1, 2).copy_(full({1}, 2.5));
    Tensor want = zeros({3, 4});
    want.select(1, 2).fill_(2.5);
    EXPECT_TRUE(same_values(base, want, kExact));
  }
}

TEST_P(DeviceOps, CopiesBetweenTwoDevices) {
  if (!device().is_cuda()) GTEST_SKIP() << "needs a cuda device";
  auto& rt = kernels::device::cuda_runtime();
  if (rt.device_count() < 2) GTEST_SKIP() << "needs two cuda devices";
  const Device other{DeviceType::CUDA, 1};
  const Tensor h = host_randn({4, 6}, 54);
  const Tensor on1 = h.to(device()).to(other);
  EXPECT_EQ(on1.device(), other);
  EXPECT_TRUE(same_values(on1, h, kExact));
  EXPECT_TRUE(
      same_values(h.to(device()).t().to(other, DType::Float64), h.t().to(DType::Float64), kExact));
  Tensor dst = zeros({6, 4}, TensorOptions(DType::Float32, other));
  dst.t().copy_(h.to(device()));
  EXPECT_TRUE(same_values(dst, h.t().contiguous(), kExact));
}

// Ops on a second device keep their outputs and gradients there; inputs on two CUDA devices are
// the same error as cpu and cuda.
TEST_P(DeviceOps, OpsOnASecondDevice) {
  if (!device().is_cuda()) GTEST_SKIP() << "needs a cuda device";
  if (kernels::device::cuda_runtime().device_count() < 2) GTEST_SKIP() << "needs two cuda devices";
  const Device other{DeviceType::CUDA, 1};
  const std::vector<std::pair<std::string, TensorFn>> ops = {
      {"elementwise", [](const auto& x) { return exp(x[0].t()) * x[1] + 1.0; }},
      {"reduction", [](const auto& x) { return var(x[0], {1}) + amax(x[1], {0}); }},
      {"mm", [](const auto& x) { return mm(x[0], x[1].t()); }},
      {"softmax", [](const auto& x) { return log_softmax(x[0] + x[1].t(), 0); }},
      {"conv2d",
       [](const auto& x) {
         return conv2d(x[0].reshape({1, 1, 4, 4}), x[1].reshape({4, 1, 2, 2}));
       }},
  };
  for (const auto& [name, fn] : ops) {
    SCOPED_TRACE(name);
    const Tensor a = host_randn({4, 4}, 56), b = host_randn({4, 4}, 57);
    Tensor ha = a.clone().set_requires_grad(true), hb = b.clone().set_requires_grad(true);
    Tensor da = a.to(other).set_requires_grad(true), db = b.to(other).set_requires_grad(true);
    const Tensor want = fn({ha, hb}), got = fn({da, db});
    EXPECT_EQ(got.device(), other);
    EXPECT_TRUE(same_values(got, want, tolerance_for(DType::Float32)));
    want.sum().backward();
    got.sum().backward();
    ASSERT_TRUE(da.grad().defined() && db.grad().defined());
    EXPECT_EQ(da.grad().device(), other);
    EXPECT_EQ(db.grad().device(), other);
    EXPECT_TRUE(same_values(da.grad(), ha.grad(), tolerance_for(DType::Float32)));
    EXPECT_TRUE(same_values(db.grad(), hb.grad(), tolerance_for(DType::Float32)));
  }
  EXPECT_TRUE(
      throws_with([&] { add(host_randn({2}, 58).to(device()), host_randn({2}, 59).to(other)); },
                  "found at least two devices, " + device().str() + " and cuda:1"));
}

// --- in-place ops -----------------------------------------------------------------------------

// Runs `op` in place on a device copy of `host` and on `host` itself; the device tensor keeps
// its memory (same address and storage), a view taken before sees the change, the version
// counter moves, and the values equal the host's.
TEST_P(DeviceOps, InplaceOpsWriteIntoTheTensorsMemory) {
  // Each op makes its operands (on the host, moved to `d`) from the target's shape.
  using InplaceFn = std::function<void(Tensor&, Device)>;
  auto last = [](const Tensor& t) { return Shape{t.size(-1)}; };
  auto reversed = [](const Tensor& t) { return Shape{t.size(1), t.size(0)}; };
  const std::vector<std::pair<std::string, InplaceFn>> ops = {
      {"add_ tensor", [](Tensor& t, Device d) { t.add_(host_randn(t.sizes(), 60).to(d), 0.5); }},
      {"add_ broadcast", [&](Tensor& t, Device d) { t.add_(host_randn(last(t), 61).to(d)); }},
      {"add_ strided other",
       [&](Tensor& t, Device d) { t.add_(host_randn(reversed(t), 62).to(d).t()); }},
      {"add_ scalar", [](Tensor& t, Device) { t.add_(1.25); }},
      {"sub_",
       [](Tensor& t, Device d) {
         t.sub_(host_randn({t.size(0), 1}, 63).to(d), 2.0);
       }},
      {"mul_ tensor", [](Tensor& t, Device d) { t.mul_(host_randn(t.sizes(), 64).to(d)); }},
      {"mul_ broadcast", [&](Tensor& t, Device d) { t.mul_(host_randn(last(t), 65).to(d)); }},
      {"mul_ scalar", [](Tensor& t, Device) { t.mul_(-3.0); }},
      {"div_", [](Tensor& t, Device) { t.div_(4.0); }},
      {"clamp_", [](Tensor& t, Device) { t.clamp_(-0.5, 0.5); }},
      {"clamp_ min", [](Tensor& t, Device) { t.clamp_(0.1, std::nullopt); }},
      {"clamp_ max", [](Tensor& t, Device) { t.clamp_(std::nullopt, -0.1); }},
      {"fill_", [](Tensor& t, Device) { t.fill_(3.5); }},
      {"zero_", [](Tensor& t, Device) { t.zero_(); }},
      {"copy_ host", [](Tensor& t, Device) { t.copy_(host_randn(t.sizes(), 66)); }},
      {"copy_ device float64",
       [](Tensor& t, Device d) { t.copy_(host_randn(t.sizes(), 67, DType::Float64).to(d)); }},
      {"copy_ transposed",
       [&](Tensor& t, Device d) { t.copy_(host_randn(reversed(t), 68).to(d).t()); }},
      {"copy_ broadcast", [&](Tensor& t, Device d) { t.copy_(host_randn(last(t), 69).to(d)); }},
  };
  // On the whole tensor, and on strided views of it (whose writes must land in the base).
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> targets = {
      {"whole", [](const Tensor& t) { return t; }},
      {"transposed", [](const Tensor& t) { return t.t(); }},
      {"rows 1..3", [](const Tensor& t) { return t.slice(0, 1, 3); }},
      {"stepped columns", [](const Tensor& t) { return t.slice(1, 0, 5, 2); }},
      {"transposed stepped", [](const Tensor& t) { return t.slice(1, 1, 5, 2).t(); }},
  };
  const Tensor start = host_randn({4, 5}, 70);
  for (const auto& t : targets)
    for (const auto& o : ops) {
      const std::string &tname = t.first, &oname = o.first;
      const auto& target = t.second;
      const auto& op = o.second;
      SCOPED_TRACE(oname + " on " + tname);
      Tensor want = start.clone();
      Tensor got = start.to(device());
      const void* address = got.raw_data();
      const StorageImpl* storage = got.storage().get();
      const Tensor flat = got.view({20});  // a view taken before the op
      const uint32_t version = got.version();
      Tensor got_target = target(got), want_target = target(want);
      NoGradGuard no_grad;
      op(got_target, device());
      op(want_target, kCPU);
      EXPECT_EQ(got.raw_data(), address);
      EXPECT_EQ(got_target.storage().get(), storage);
      EXPECT_GT(got.version(), version);
      EXPECT_TRUE(same_values(flat, want.view({20}), tolerance_for(DType::Float32)));
      EXPECT_TRUE(same_values(got, want, tolerance_for(DType::Float32)));
    }
  // Integer in-place arithmetic.
  Tensor i = host_ints({3, 4}, 71).to(device());
  const void* address = i.raw_data();
  i.add_(host_ints({4}, 72).to(device()), 3.0);
  i.mul_(2);  // an integer scalar: a double would make a float result
  Tensor want = host_ints({3, 4}, 71);
  want.add_(host_ints({4}, 72), 3.0);
  want.mul_(2);
  EXPECT_EQ(i.raw_data(), address);
  EXPECT_TRUE(same_values(i, want, kExact));
}

// --- empty tensors ----------------------------------------------------------------------------

TEST_P(DeviceOps, EmptyTensorsInEveryFamily) {
  const Tensor e = host_randn({0, 3}, 80), row = host_randn({3}, 81);
  expect_grads_like_cpu("exp", [](const auto& x) { return exp(x[0]); }, {e});
  expect_grads_like_cpu("add broadcast", [](const auto& x) { return x[0] + x[1]; }, {e, row});
  expect_grads_like_cpu("relu of t", [](const auto& x) { return relu(x[0].t()); }, {e});
  expect_like_cpu("eq", [](const auto& x) { return eq(x[0], x[1]); }, {e, row});
  expect_like_cpu("where", [](const auto& x) { return where(gt(x[0], 0.0 * x[1]), x[0], x[1]); },
                  {e, row});
  expect_grads_like_cpu("sum all", [](const auto& x) { return sum(x[0]); }, {e});
  expect_grads_like_cpu("sum dim 0", [](const auto& x) { return sum(x[0], {0}); }, {e});
  expect_grads_like_cpu("sum dim 1", [](const auto& x) { return sum(x[0], {1}, true); }, {e});
  expect_grads_like_cpu("mean all (nan)", [](const auto& x) { return mean(x[0]); }, {e});
  expect_grads_like_cpu("mean dim 1", [](const auto& x) { return mean(x[0], {1}); }, {e});
  expect_grads_like_cpu("amax dim 1", [](const auto& x) { return amax(x[0], {1}); }, {e});
  expect_grads_like_cpu("max dim 1", [](const auto& x) { return max(x[0], 1).first; }, {e});
  expect_like_cpu("argmax dim 1", [](const auto& x) { return argmax(x[0], 1); }, {e});
  expect_like_cpu("sum int64", [](const auto& x) { return sum(x[0], {0}); },
                  {zeros({0, 3}, TensorOptions(DType::Int64))});
  expect_grads_like_cpu("softmax", [](const auto& x) { return softmax(x[0], 1); }, {e});
  expect_grads_like_cpu("log_softmax", [](const auto& x) { return log_softmax(x[0], 0); }, {e});
  expect_grads_like_cpu("mm (0x3)@(3x2)", [](const auto& x) { return mm(x[0], x[1]); },
                        {e, host_randn({3, 2}, 82)});
  expect_grads_like_cpu("mm (2x0)@(0x3) is zeros", [](const auto& x) { return mm(x[0], x[1]); },
                        {host_randn({2, 0}, 83), e});
  expect_grads_like_cpu("linear batch 0", [](const auto& x) { return linear(x[0], x[1], x[2]); },
                        {e, host_randn({4, 3}, 84), host_randn({4}, 85)});
  expect_grads_like_cpu("cat",
                        [](const auto& x) {
                          return cat({x[0], x[1]}, 0);
                        },
                        {e, host_randn({2, 3}, 86)});
  expect_grads_like_cpu("stack", [](const auto& x) { return stack({x[0], x[0]}, 1); }, {e});
  expect_grads_like_cpu("index_select empty index",
                        [](const auto& x) { return index_select(x[0], 0, x[1]); },
                        {host_randn({4, 3}, 87), zeros({0}, TensorOptions(DType::Int64))});
  expect_grads_like_cpu("mse_loss sum",
                        [](const auto& x) { return mse_loss(x[0], x[1], Reduction::Sum); },
                        {e, host_randn({0, 3}, 88)});
  expect_grads_like_cpu("mse_loss mean (nan)", [](const auto& x) { return mse_loss(x[0], x[1]); },
                        {e, host_randn({0, 3}, 89)});
  expect_grads_like_cpu("cross_entropy sum",
                        [](const auto& x) { return cross_entropy(x[0], x[1], {}, Reduction::Sum); },
                        {host_randn({0, 4}, 90), zeros({0}, TensorOptions(DType::Int64))});
  const Tensor img = host_randn({0, 2, 4, 4}, 91);
  expect_grads_like_cpu("conv2d batch 0", [](const auto& x) { return conv2d(x[0], x[1], x[2]); },
                        {img, host_randn({3, 2, 3, 3}, 92), host_randn({3}, 93)});
  expect_grads_like_cpu("max_pool2d batch 0",
                        [](const auto& x) {
                          return max_pool2d(x[0], {2, 2});
                        },
                        {img});
  expect_grads_like_cpu("avg_pool2d batch 0",
                        [](const auto& x) {
                          return avg_pool2d(x[0], {2, 2});
                        },
                        {img});
  expect_grads_like_cpu("interpolate batch 0",
                        [](const auto& x) {
                          return interpolate(x[0], Pair{6, 6}, {}, "bilinear");
                        },
                        {img});
  // Copies and in-place ops on nothing.
  for (DType dt : kAllDtypes) {
    SCOPED_TRACE(dtype_name(dt));
    const Tensor h = zeros({0, 3}, TensorOptions(dt));
    Tensor d = h.to(device());
    EXPECT_EQ(d.device(), device());
    EXPECT_TRUE(same_values(d.cpu(), h, kExact));
    EXPECT_TRUE(same_values(d.t().contiguous(), h.t().contiguous(), kExact));
    d.fill_(1.0);
    d.zero_();
    d.copy_(h);
    EXPECT_EQ(d.numel(), 0);
  }
  Tensor f = zeros({0, 3}, on());
  f.add_(1.0);
  f.mul_(zeros({3}, on()));
  f.clamp_(0.0, 1.0);
  EXPECT_EQ(f.sizes(), (Shape{0, 3}));
}

// Empty tensors whose zero is not the leading dim: their strides are not the ones a walk over
// the sizes would give ((3, 0) has strides (1, 1)).
TEST_P(DeviceOps, EmptyTensorsWithAZeroInnerDim) {
  const Tensor e = host_randn({3, 0}, 95), e3 = host_randn({2, 0, 3}, 96);
  const Tensor none = host_randn({0}, 97);
  expect_grads_like_cpu("exp", [](const auto& x) { return exp(x[0]); }, {e3});
  expect_grads_like_cpu("add broadcast", [](const auto& x) { return x[0] + x[1]; }, {e, none});
  expect_grads_like_cpu("mul of permuted",
                        [](const auto& x) {
                          return x[0].permute({2, 0, 1}) * 2.0;
                        },
                        {e3});
  expect_grads_like_cpu("contiguous of t", [](const auto& x) { return x[0].t().contiguous(); },
                        {e});
  expect_grads_like_cpu("sum all", [](const auto& x) { return sum(x[0]); }, {e3});
  expect_grads_like_cpu("sum dim 1 (zeros)", [](const auto& x) { return sum(x[0], {1}); }, {e3});
  expect_grads_like_cpu("sum dim 2", [](const auto& x) { return sum(x[0], {2}); }, {e3});
  expect_grads_like_cpu("mean dim 1 (nan)", [](const auto& x) { return mean(x[0], {1}); }, {e});
  expect_grads_like_cpu("amax dim 0", [](const auto& x) { return amax(x[0], {0}); }, {e});
  expect_like_cpu("argmax dim 2", [](const auto& x) { return argmax(x[0], 2); }, {e3});
  expect_grads_like_cpu("softmax dim 1", [](const auto& x) { return softmax(x[0], 1); }, {e});
  expect_grads_like_cpu("log_softmax dim 2", [](const auto& x) { return log_softmax(x[0], 2); },
                        {e3});
  expect_grads_like_cpu("mm (3x0)@(0x2) is zeros", [](const auto& x) { return mm(x[0], x[1]); },
                        {e, host_randn({0, 2}, 98)});
  expect_grads_like_cpu("linear of no features",
                        [](const auto& x) { return linear(x[0], x[1], x[2]); },
                        {e, host_randn({4, 0}, 99), host_randn({4}, 100)});
  expect_grads_like_cpu("matmul batched, no features",
                        [](const auto& x) { return matmul(x[0], x[1]); },
                        {host_randn({2, 3, 0}, 103), host_randn({0, 4}, 104)});
  {
    // As PyTorch: rows of the bias, whose gradient counts the rows.
    const Tensor b = host_randn({4}, 105).to(device()).set_requires_grad(true);
    const Tensor y = linear(zeros({3, 0}, on()), zeros({4, 0}, on()), b);
    EXPECT_TRUE(same_values(y, b.detach().expand({3, 4}).contiguous(), kExact));
    y.sum().backward();
    EXPECT_TRUE(same_values(b.grad(), full({4}, 3.0, on()), kExact));
  }
  expect_grads_like_cpu("cat dim 1",
                        [](const auto& x) {
                          return cat({x[0], x[1], x[0]}, 1);
                        },
                        {e, host_randn({3, 2}, 101)});
  expect_grads_like_cpu("stack", [](const auto& x) { return stack({x[0], x[0]}, 0); }, {e3});
  expect_grads_like_cpu("index_select dim 0",
                        [](const auto& x) { return index_select(x[0], 0, x[1]); },
                        {e, from_vector(std::vector<double>{2, 0}, {2}).to(DType::Int64)});
  expect_grads_like_cpu("mse_loss sum",
                        [](const auto& x) { return mse_loss(x[0], x[1], Reduction::Sum); },
                        {e3, host_randn({2, 0, 3}, 102)});
  for (DType dt : kAllDtypes) {
    SCOPED_TRACE(dtype_name(dt));
    const Tensor h = zeros({2, 0, 3}, TensorOptions(dt));
    Tensor d = h.to(device());
    EXPECT_TRUE(
        same_values(d.permute({1, 2, 0}).contiguous(), h.permute({1, 2, 0}).contiguous(), kExact));
    d.fill_(1.0);
    EXPECT_EQ(d.to(DType::Float64).sizes(), (Shape{2, 0, 3}));
  }
}

// --- zero-dim tensors ------------------------------------------------------------------------

TEST_P(DeviceOps, ZeroDimTensors) {
  const Tensor s0 = host_randn({}, 160), s1 = host_randn({}, 161), v = host_randn({3}, 162);
  expect_grads_like_cpu("exp", [](const auto& x) { return exp(x[0]); }, {s0});
  expect_grads_like_cpu("mul", [](const auto& x) { return x[0] * x[1]; }, {s0, s1});
  expect_grads_like_cpu("broadcast", [](const auto& x) { return x[0] - x[1]; }, {s0, v});
  expect_grads_like_cpu("sum", [](const auto& x) { return sum(x[0]); }, {s0});
  expect_grads_like_cpu("mean keepdim", [](const auto& x) { return mean(x[0], {0}, true); }, {s0});
  expect_grads_like_cpu("amax", [](const auto& x) { return amax(x[0], {0}); }, {s0});
  expect_grads_like_cpu("max", [](const auto& x) { return max(x[0]); }, {s0});
  expect_grads_like_cpu("max dim", [](const auto& x) { return max(x[0], 0).first; }, {s0});
  expect_like_cpu("argmax", [](const auto& x) { return argmax(x[0], 0); }, {s0});
  expect_grads_like_cpu("softmax", [](const auto& x) { return softmax(x[0], 0); }, {s0});
  expect_grads_like_cpu("select", [](const auto& x) { return x[0].select(0, 1) * x[0]; }, {v});
  expect_grads_like_cpu("matmul 1-D", [](const auto& x) { return matmul(x[0], x[0]); }, {v});
  expect_grads_like_cpu("index_select", [](const auto& x) { return index_select(x[0], 0, x[1]); },
                        {v, full({}, 2, TensorOptions(DType::Int64))});
  // Reducing dim 0 of a 0-dim tensor keeps it 0-dim, as PyTorch.
  const Tensor on_device = s0.to(device());
  EXPECT_EQ(sum(on_device, {0}).dim(), 0);
  EXPECT_EQ(mean(on_device, {-1}, true).dim(), 0);
  EXPECT_EQ(amax(on_device, {0}, true).dim(), 0);
  EXPECT_EQ(var(on_device, {0}, 0).dim(), 0);
  // Element access goes through a copy, also for views with an offset.
  const Tensor d = v.to(device());
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(d[i].item(), v[i].item()) << i;
  EXPECT_EQ(d.slice(0, 1, 3).to_vector(), v.slice(0, 1, 3).to_vector());
  EXPECT_EQ(sum(d).item<float>(), sum(v).item<float>());
}

// --- autograd across devices -----------------------------------------------------------------

// .to() is differentiable: the gradient goes back to the source's device and dtype, as in
// PyTorch.
TEST_P(DeviceOps, GradientsFlowBackAcrossDevices) {
  Tensor h = host_randn({3, 4}, 170).set_requires_grad(true);
  Tensor on = h.to(device(), DType::Float64);
  (on * on).sum().backward();
  ASSERT_TRUE(h.grad().defined());
  EXPECT_TRUE(h.grad().is_cpu());
  EXPECT_EQ(h.grad().dtype(), DType::Float32);
  EXPECT_TRUE(same_values(h.grad(), h.detach() * 2.0, tolerance_for(DType::Float32)));
  Tensor d = host_randn({3, 4}, 171).to(device()).set_requires_grad(true);
  (d.cpu().t() * 3.0).sum().backward();
  ASSERT_TRUE(d.grad().defined());
  EXPECT_EQ(d.grad().device(), device());
  EXPECT_TRUE(same_values(d.grad(), full({3, 4}, 3.0), kExact));
}

TEST_P(DeviceOps, PrintsTheDevice) {
  const std::string s = from_vector(std::vector<double>{1, 2.5}, {2}).to(device()).str();
  EXPECT_NE(s.find("1.0000, 2.5000"), std::string::npos) << s;
  EXPECT_EQ(s.find("device=") != std::string::npos, device().is_cuda()) << s;
  if (device().is_cuda()) {
    EXPECT_NE(s.find("device='" + device().str() + "'"), std::string::npos) << s;
  }
}

// --- odd sizes --------------------------------------------------------------------------------

TEST_P(DeviceOps, OddSizes) {
  for (int64_t n : {1, 3, 257}) {
    const std::string s = " n=" + std::to_string(n);
    const Tensor v = host_randn({n}, 100 + uint64_t(n)), m = host_randn({3, n}, 200 + uint64_t(n));
    expect_grads_like_cpu("exp" + s, [](const auto& x) { return exp(x[0]); }, {v});
    expect_grads_like_cpu("mul broadcast" + s, [](const auto& x) { return x[0] * x[1]; }, {m, v});
    expect_grads_like_cpu("add transposed" + s,
                          [](const auto& x) { return x[0].t() + x[1].unsqueeze(1); }, {m, v});
    expect_grads_like_cpu("sum" + s, [](const auto& x) { return sum(x[0], {1}); }, {m});
    expect_grads_like_cpu("mean" + s, [](const auto& x) { return mean(x[0]); }, {m});
    expect_grads_like_cpu("var" + s, [](const auto& x) { return var(x[0], {1}, 0); }, {m});
    expect_grads_like_cpu("amax" + s, [](const auto& x) { return amax(x[0], {1}); }, {m});
    expect_like_cpu("argmax" + s, [](const auto& x) { return argmax(x[0], 1); }, {m});
    expect_grads_like_cpu("softmax" + s, [](const auto& x) { return softmax(x[0], 1); }, {m});
    expect_grads_like_cpu("log_softmax" + s, [](const auto& x) { return log_softmax(x[0], 0); },
                          {m});
    expect_grads_like_cpu("mm" + s, [](const auto& x) { return mm(x[0], x[1].t()); },
                          {m, host_randn({2, n}, 300 + uint64_t(n))});
    expect_grads_like_cpu("matmul vector" + s, [](const auto& x) { return matmul(x[0], x[1]); },
                          {m, v});
    expect_grads_like_cpu(
        "cross_entropy" + s, [](const auto& x) { return cross_entropy(x[0], x[1]); },
        {m.t().contiguous(), host_ints({n}, 400 + uint64_t(n), DType::Int64, 0, 3)});
    expect_like_cpu(
        "copy round trip" + s, [](const auto& x) { return x[0].to(DType::Float16); }, {m}, kExact);
  }
}

// Reductions long enough that a GPU splits each output's run into chunks, reduced in a second pass
// from partials in scratch memory (kernels/common/reduce_plan.h: over 2 * 16384 elements, under
// 512 outputs).
TEST_P(DeviceOps, LongReductionsReduceInTwoPasses) {
  const Tensor m = host_randn({3, 70001}, 500), v = host_randn({100003}, 501);
  expect_grads_like_cpu("sum", [](const auto& x) { return sum(x[0], {1}); }, {m});
  expect_grads_like_cpu("mean", [](const auto& x) { return mean(x[0]); }, {v});
  expect_grads_like_cpu("var", [](const auto& x) { return var(x[0], {1}, 1); }, {m});
  expect_grads_like_cpu("amax", [](const auto& x) { return amax(x[0], {0}); }, {v});
  expect_like_cpu("argmax", [](const auto& x) { return argmax(x[0], 1); }, {m});
  expect_like_cpu("sum float64", [](const auto& x) { return sum(x[0].to(DType::Float64)); }, {v});
  expect_like_cpu("sum int64", [](const auto& x) { return sum(x[0]); },
                  {host_ints({70001}, 502, DType::Int64, -1000, 1000)});
}

// --- indices checked by the kernels -----------------------------------------------------------

// A bad target or index is found by the kernel that reads it (kernels/common/bad_index.h): on the
// CPU the op throws, on a device the host's next wait does, so the check costs a training step no
// wait. The error names the index and is thrown once; the device carries on. The backward of the
// bad op, queued before the host knew, writes nothing outside its output (the sanitize stage runs
// this under ASan).
TEST_P(DeviceOps, BadIndicesAreThrownAtTheNextWaitNamingThem) {
  const Tensor targets =
      from_vector(std::vector<double>{0, 7, 2, -100}, {4}, TensorOptions(DType::Float64))
          .to(DType::Int64)
          .to(device());
  const Tensor index = from_vector(std::vector<double>{1, -2}, {2}, TensorOptions(DType::Float64))
                           .to(DType::Int64)
                           .to(device());
  const Tensor logits = host_randn({4, 3}, 120).to(device()).set_requires_grad(true);
  const auto deferred = [&](const std::function<Tensor()>& op, const std::string& message) {
    // The CPU, and the emulated device with TANDEM_EMULATED_STREAMS=sync, run the kernel at the
    // call.
    if (!device().is_cuda() ||
        (kernels::device::cuda_is_emulated() && !kernels::emulated::streams_are_async()))
      return throws_with([&] { op(); }, message);
    Tensor out;
    if (const std::string e = tandem::testing::error_text([&] { out = op(); }); e != "<no error>")
      return ::testing::AssertionFailure() << "threw at the call: " << e;
    return throws_with([&] { out.cpu(); }, message);
  };
  EXPECT_TRUE(
      deferred([&] { return cross_entropy(logits, targets); }, "Target 7 is out of bounds."));
  EXPECT_TRUE(deferred(
      [&] {
        Tensor loss = nll_loss(log_softmax(logits, 1), targets);
        loss.backward();  // skips the bad target
        return logits.grad();
      },
      "Target 7 is out of bounds."));
  EXPECT_TRUE(deferred(
      [&] {
        Tensor rows = index_select(logits, 0, index);
        rows.sum().backward();  // index_add skips the bad index
        return rows;
      },
      "index out of range in self (index -2 for a dim of size 4)"));
  // An empty slab copies nothing, and its indices are checked all the same (summed: copying an
  // empty tensor to the host waits for nothing).
  EXPECT_TRUE(deferred(
      [&] {
        return index_select(zeros({4, 0}, on()), 0, index).sum();
      },
      "index out of range in self (index -2 for a dim of size 4)"));
  // Reported once: the device carries on, and good targets give the CPU's loss.
  const Tensor good =
      from_vector(std::vector<double>{0, 2, 1, -100}, {4}, TensorOptions(DType::Float64))
          .to(DType::Int64);
  const Tensor host_logits = logits.detach().cpu();
  EXPECT_NEAR(cross_entropy(logits.detach(), good.to(device())).item(),
              cross_entropy(host_logits, good).item(), 1e-6);
}

// --- inputs on two devices --------------------------------------------------------------------

TEST_P(DeviceOps, MixedDevicesAreAnErrorNamingBoth) {
  if (!device().is_cuda()) GTEST_SKIP() << "needs a cuda device next to the cpu";
  const std::string both =
      "Expected all tensors to be on the same device, but found at least two devices, ";
  const std::string cpu_then_cuda = both + "cpu and " + device().str();
  const std::string cuda_then_cpu = both + device().str() + " and cpu";
  const Tensor c = host_randn({3, 4}, 110), g = c.to(device());
  const Tensor ci = zeros({3}, TensorOptions(DType::Int64)), gi = ci.to(device());
  EXPECT_TRUE(throws_with([&] { add(c, g); }, cpu_then_cuda));
  EXPECT_TRUE(throws_with([&] { add(g, c); }, cuda_then_cpu));
  EXPECT_TRUE(throws_with([&] { (void)(c * g); }, cpu_then_cuda));
  EXPECT_TRUE(throws_with([&] { maximum(c, g); }, cpu_then_cuda));
  EXPECT_TRUE(throws_with([&] { eq(c, g); }, cpu_then_cuda));
  EXPECT_TRUE(throws_with([&] { where(gt(g, g), c, g); }, both));
  EXPECT_TRUE(throws_with([&] { mm(c, g.t()); }, cpu_then_cuda));
  EXPECT_TRUE(throws_with([&] { matmul(c, g.t()); }, cpu_then_cuda));
  EXPECT_TRUE(throws_with([&] { linear(g, c, {}); }, cuda_then_cpu));
  EXPECT_TRUE(throws_with([&] { linear(g, g, c.select(1, 0)); }, both));
  EXPECT_TRUE(throws_with([&] { cat({c, g}); }, cpu_then_cuda));
  EXPECT_TRUE(throws_with([&] { index_select(g, 0, ci); }, cuda_then_cpu));
  EXPECT_TRUE(throws_with([&] { cross_entropy(g, ci); }, cuda_then_cpu));
  EXPECT_TRUE(throws_with([&] { nll_loss(c, gi); }, cpu_then_cuda));
  EXPECT_TRUE(throws_with([&] { mse_loss(c, g); }, cpu_then_cuda));
  const Tensor x = host_randn({1, 2, 4, 4}, 111), w = host_randn({3, 2, 3, 3}, 112);
  EXPECT_TRUE(throws_with([&] { conv2d(x.to(device()), w); }, cuda_then_cpu));
  EXPECT_TRUE(throws_with([&] { conv2d(x, w.to(device())); }, cpu_then_cuda));
  EXPECT_TRUE(
      throws_with([&] { conv_transpose2d(x.to(device()), w.transpose(0, 1)); }, cuda_then_cpu));
  EXPECT_TRUE(throws_with(
      [&] { batch_norm(x.to(device()), {}, {}, ones({2}), zeros({2}, on()), true); }, both));
  EXPECT_TRUE(throws_with(
      [&] { batch_norm(x.to(device()), zeros({2}), ones({2}, on()), {}, {}, false); }, both));
  {
    NoGradGuard no_grad;
    Tensor t = c.to(device());
    EXPECT_TRUE(throws_with([&] { t.add_(c); }, cuda_then_cpu));
    EXPECT_TRUE(throws_with([&] { t.mul_(c); }, cuda_then_cpu));
    // copy_ is the one op that moves data between devices.
    t.copy_(c);
    EXPECT_TRUE(same_values(t, c, kExact));
  }
}

TANDEM_INSTANTIATE_DEVICE_TEST(DeviceOps);
