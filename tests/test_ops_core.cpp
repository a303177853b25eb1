// Core ops: gradients against finite differences (gradcheck, float64) for reductions,
// activations, softmax, matmul/mm/linear, losses and cat/stack/index_select, edge cases
// (keepdim, negative dims, broadcast batches, ignore_index, label smoothing, weights) and the
// errors PyTorch users know. Values against PyTorch are in test_ops_core_golden.cpp. Every test
// runs on `cpu` and `cuda` (tests/device_test.h): inputs are made on the host and moved to the
// device, finite differences run in float64 on the device.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "framework/ops/ops.h"
#include "tests/device_test.h"
#include "tests/error_text.h"
#include "tests/gradcheck.h"

using namespace tandem;
using autograd::TensorList;
using tandem::testing::error_text;
using tandem::testing::gradcheck;
using tandem::testing::throws_with;

namespace {

// The suites below share these helpers; each runs on `cpu` and `cuda`.
class OpsCoreTest : public tandem::testing::DeviceTest {
 protected:
  // Options for a new tensor on the test's device.
  TensorOptions on(DType dtype = DType::Float32) const { return TensorOptions(dtype, device()); }
  // `t` (made on the host) on the test's device.
  Tensor dev(const Tensor& t) const { return t.to(device()); }
  Tensor targets(const std::vector<int64_t>& v, const Shape& shape) const {
    return from_vector(v, shape).to(device());
  }
  // A float64 leaf on the device on a coarse grid, so maxima tie.
  Tensor tie_leaf(const Shape& shape, uint64_t seed) const {
    Generator gen(seed);
    Tensor t = rand(shape, gen, TensorOptions(DType::Float64));
    std::vector<double> v = t.to_vector();
    for (double& x : v) x = std::floor(x * 3) * 0.5;
    return from_vector(v, shape, on(DType::Float64)).set_requires_grad(true);
  }
  Tensor leaf(const Shape& shape, uint64_t seed) const {
    return tandem::testing::leaf(shape, seed, device());
  }
};

}  // namespace

class Reductions : public OpsCoreTest {};
class Activation : public OpsCoreTest {};
class Softmax : public OpsCoreTest {};
class Matmul : public OpsCoreTest {};
class Linear : public OpsCoreTest {};
class Loss : public OpsCoreTest {};
class ShapeOps : public OpsCoreTest {};
class Promotion : public OpsCoreTest {};

// --- type promotion (values from torch 1.13) ---------------------------------------------------

TEST_P(Promotion, ScalarsArePythonNumbers) {
  // A double is a Python float, an integer a Python int.
  const Tensor i = dev(from_vector(std::vector<int64_t>{1, 2, 3}, {3}));
  const Tensor b = dev(from_vector(std::vector<double>{1, 0, 1}, {3}).to(DType::Bool));
  auto expect = [](const Tensor& t, DType dt, std::vector<double> v) {
    EXPECT_EQ(t.dtype(), dt);
    EXPECT_EQ(t.cpu().to_vector(), v);
  };
  expect(i + 0.5, DType::Float32, {1.5, 2.5, 3.5});
  expect(0.5 * i, DType::Float32, {0.5, 1, 1.5});
  expect(i / 0.5, DType::Float32, {2, 4, 6});
  expect(i * 2, DType::Int64, {2, 4, 6});
  expect(10 - i, DType::Int64, {9, 8, 7});
  expect(i / 2, DType::Float32, {0.5, 1, 1.5});  // true division
  expect(b * 2, DType::Int64, {2, 0, 2});
  expect(b * 2.0, DType::Float32, {2, 0, 2});
  expect(i.to(DType::UInt8) * 100.0, DType::Float32, {100, 200, 300});
  expect(i.to(DType::Float16) * 3, DType::Float16, {3, 6, 9});
  // exp, log and sqrt of integers compute in float32, as sigmoid and tanh.
  EXPECT_EQ(exp(i).dtype(), DType::Float32);
  EXPECT_NEAR(exp(i).cpu().to_vector()[0], 2.7182817, 1e-6);
  expect(sqrt(i * i), DType::Float32, {1, 2, 3});
  EXPECT_EQ(log(i.to(DType::Int32)).dtype(), DType::Float32);
}

TEST_P(Promotion, BoolArithmeticIsLogical) {
  // torch: [T F T] + [T T F] = [T T T], * = [T F F], / is float, - is refused.
  const Tensor b = dev(from_vector(std::vector<double>{1, 0, 1}, {3}).to(DType::Bool));
  const Tensor c = dev(from_vector(std::vector<double>{1, 1, 0}, {3}).to(DType::Bool));
  EXPECT_EQ((b + c).dtype(), DType::Bool);
  EXPECT_EQ((b + c).cpu().to_vector(), (std::vector<double>{1, 1, 1}));
  EXPECT_EQ((b * c).cpu().to_vector(), (std::vector<double>{1, 0, 0}));
  EXPECT_EQ(maximum(b, c).cpu().to_vector(), (std::vector<double>{1, 1, 1}));
  EXPECT_EQ((b / c).dtype(), DType::Float32);
  EXPECT_EQ(error_text([&] { b - c; }),
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` "
            "or `logical_xor()` operator instead.");
}

TEST_P(Promotion, InPlaceResultMustFitTheTensor) {
  Tensor i = dev(from_vector(std::vector<int64_t>{1, 2, 3}, {3}));
  EXPECT_EQ(error_text([&] { i.add_(0.5); }),
            "result type Float can't be cast to the desired output type Long");
  EXPECT_EQ(error_text([&] { i.mul_(1.5); }),
            "result type Float can't be cast to the desired output type Long");
  EXPECT_EQ(error_text([&] {
              i.add_(dev(from_vector(std::vector<double>{0.5, 0.5, 0.5}, {3})));
            }),
            "result type Float can't be cast to the desired output type Long");
  EXPECT_EQ(error_text([&] { i.clamp_(0.5, 2.5); }),
            "result type Float can't be cast to the desired output type Long");
  EXPECT_EQ(error_text([&] { add(i, i, 0.5); }),
            "For integral input tensors, argument alpha must not be a floating point number.");
  Tensor flags = dev(zeros({2}, TensorOptions(DType::Bool)));
  EXPECT_EQ(error_text([&] { flags.add_(1); }),
            "result type Long can't be cast to the desired output type Bool");
  i.add_(1).mul_(2);
  EXPECT_EQ(i.cpu().to_vector(), (std::vector<double>{4, 6, 8}));
  i.add_(i.to(DType::Int32), 2);  // an int32 operand and an integral alpha fit
  EXPECT_EQ(i.cpu().to_vector(), (std::vector<double>{12, 18, 24}));
}

TEST_P(Promotion, ZeroDimTensorsJoinOnlyAHigherCategory) {
  // c10's ResultTypeState: a 0-dim operand's dtype counts only when its category (bool < integer
  // < floating) is above the other operand's.
  const Tensor f16 = dev(from_vector(std::vector<double>{1.0, 2.0, 3.0}, {3}).to(DType::Float16));
  const Tensor f32 = dev(from_vector(std::vector<double>{1.0, 2.0, 3.0}, {3}));
  const Tensor i32 = dev(from_vector(std::vector<double>{1.0, 2.0, 3.0}, {3}).to(DType::Int32));
  auto zero = [&](double v, DType dt) { return scalar_tensor(v, on(dt)); };
  EXPECT_EQ((f16 + zero(1, DType::Float32)).dtype(), DType::Float16);
  EXPECT_EQ((f32 + zero(1, DType::Float64)).dtype(), DType::Float32);
  EXPECT_EQ((i32 + zero(1, DType::Int64)).dtype(), DType::Int32);
  EXPECT_EQ((i32 + zero(1, DType::Float64)).dtype(), DType::Float64);
  EXPECT_EQ((f16.to(DType::BFloat16) + zero(1, DType::Float16)).dtype(), DType::BFloat16);
  EXPECT_EQ((zero(1, DType::Float64) + zero(1, DType::Float32)).dtype(), DType::Float64);
  const Tensor cond = dev(from_vector(std::vector<double>{1.0, 0.0, 1.0}, {3}).to(DType::Bool));
  EXPECT_EQ(where(cond, i32, zero(5, DType::Int64)).dtype(), DType::Int32);
  EXPECT_EQ(where(cond, f16, zero(0, DType::Float32)).dtype(), DType::Float16);
  // int8 arithmetic wraps as int8: 100 + 100 = -56.
  const Tensor i8 = dev(from_vector(std::vector<double>{100.0}, {1}).to(DType::Int8));
  EXPECT_EQ((i8 + zero(100, DType::Int64)).cpu().to_vector(), (std::vector<double>{-56}));
  // The comparison runs in float16, where 1.0001 rounds to 1.
  EXPECT_EQ(eq(dev(from_vector(std::vector<double>{1.0, 2.0}, {2}).to(DType::Float16)),
               zero(1.0001, DType::Float64))
                .cpu()
                .to_vector(),
            (std::vector<double>{1, 0}));
}

TEST_P(Promotion, ClampBoundsAsPyTorch) {
  const double nan = std::nan("");
  const Tensor x = dev(from_vector(std::vector<double>{1.0, 2.0, 3.0}, {3}));
  for (const auto& [lo, hi] :
       {std::pair<std::optional<double>, std::optional<double>>{nan, 1.0}, {0.0, nan}})
    for (double v : clamp(x, lo, hi).cpu().to_vector()) EXPECT_TRUE(std::isnan(v));
  EXPECT_EQ(clamp(x, nan, std::nullopt).cpu().to_vector(), x.cpu().to_vector());
  EXPECT_EQ(clamp(x, std::nullopt, nan).cpu().to_vector(), x.cpu().to_vector());
  EXPECT_EQ(clamp(x, 3.0, 1.0).cpu().to_vector(), (std::vector<double>{1, 1, 1}));
  const Tensor i = x.to(DType::Int64);
  const Tensor f = clamp(i, 1.5, 2.5);
  EXPECT_EQ(f.dtype(), DType::Float32);
  EXPECT_EQ(f.cpu().to_vector(), (std::vector<double>{1.5, 2, 2.5}));
  EXPECT_EQ(clamp(i, 2.0, 2.0).dtype(), DType::Int64);
}

TEST_P(Promotion, AllcloseAsTorch) {
  const double inf = INFINITY;
  auto t = [&](std::vector<double> v) { return dev(from_vector(v, {int64_t(v.size())})); };
  EXPECT_FALSE(allclose(t({1}), t({inf})));
  EXPECT_FALSE(allclose(t({inf}), t({-inf})));
  EXPECT_TRUE(allclose(t({inf, -inf}), t({inf, -inf})));
  EXPECT_FALSE(allclose(t({std::nan("")}), t({std::nan("")})));
  EXPECT_TRUE(allclose(t({1, 1}), t({1})));  // shapes broadcast
}

TEST_P(Reductions, HalfVarianceAccumulatesInFloat) {
  // torch.tensor([0., 0, 400, 400], dtype=torch.float16).var() == 53344 (squares overflow half).
  const Tensor h =
      dev(from_vector(std::vector<double>{0.0, 0.0, 400.0, 400.0}, {4}).to(DType::Float16));
  EXPECT_EQ(var(h, {0}, 1, false).cpu().to_vector(), (std::vector<double>{53344}));
}

// --- reductions -------------------------------------------------------------------------------

TEST_P(Reductions, VarGradients) {
  Tensor x = leaf({3, 4, 2}, 1);
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return var(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return var(in[0], {1}); }, {x}));
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return var(in[0], {0, -1}, 0, true); }, {x}));
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return var(in[0], {-2}, 2, false); }, {x}));
}

TEST_P(Reductions, VarValues) {
  Tensor x = dev(tensor({1, 2, 3, 4}));
  EXPECT_NEAR(var(x).item(), 5.0 / 3.0, 1e-6);
  EXPECT_NEAR(var(x, {}, 0).item(), 1.25, 1e-6);
  EXPECT_EQ(var(x.reshape({2, 2}), {1}, 1, true).sizes(), (Shape{2, 1}));
  EXPECT_TRUE(std::isnan(var(dev(tensor({3}))).item()));  // N - correction = 0: 0/0
  EXPECT_TRUE(throws_with([&] { var(arange(3, on(DType::Int64))); },
                          "std and var only support floating point"));
}

TEST_P(Reductions, MaxAllSplitsTies) {
  Tensor x = from_vector(std::vector<double>{1, 3, 3, 2}, {2, 2}, on(DType::Float64))
                 .set_requires_grad(true);
  Tensor m = max(x);
  EXPECT_EQ(m.dim(), 0);
  EXPECT_EQ(m.item(), 3.0);
  m.backward();
  EXPECT_EQ(x.grad().cpu().to_vector(), (std::vector<double>{0, 0.5, 0.5, 0}));
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return max(in[0]); }, {leaf({3, 4}, 2)}));
  EXPECT_TRUE(throws_with(
      [&] {
        max(zeros({2, 0}, on()));
      },
      "Expected reduction dim to be specified"));
}

TEST_P(Reductions, MinAllAndTensorMethodsSplitTies) {
  Tensor x = from_vector(std::vector<double>{1, 3, 1, 2}, {2, 2}, on(DType::Float64))
                 .set_requires_grad(true);
  Tensor m = x.min();  // torch.Tensor.min(): the smallest element, a 0-dim tensor
  EXPECT_EQ(m.dim(), 0);
  EXPECT_EQ(m.item(), 1.0);
  EXPECT_EQ(x.max().item(), 3.0);
  m.backward();
  EXPECT_EQ(x.grad().cpu().to_vector(), (std::vector<double>{0.5, 0, 0.5, 0}));
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return min(in[0]); }, {leaf({3, 4}, 2)}));
  EXPECT_TRUE(std::isnan(dev(tensor({1, NAN, -3})).min().item()));
  // Integers: exact, the lowest int64 included; the result keeps the dtype.
  Tensor ints = from_vector(std::vector<int64_t>{5, INT64_MIN, 7, -2}, {4}).to(device());
  EXPECT_EQ(ints.min().dtype(), DType::Int64);
  EXPECT_EQ(ints.min().cpu().data_ptr<int64_t>()[0], INT64_MIN);
  EXPECT_EQ(ints.max().cpu().data_ptr<int64_t>()[0], 7);
  Tensor bytes = from_vector(std::vector<double>{200, 3, 255}, {3}, on(DType::UInt8));
  EXPECT_EQ(bytes.min().item(), 3.0);
  EXPECT_EQ(bytes.min().dtype(), DType::UInt8);
  EXPECT_TRUE(throws_with([&] { min(zeros({2, 0}, on())); }, "min(): Expected reduction dim"));
}

TEST_P(Reductions, MaxDimValuesIndicesAndGradient) {
  Tensor x = from_vector(std::vector<double>{1, 5, 5, 7, 2, 7}, {2, 3}, on(DType::Float64))
                 .set_requires_grad(true);
  auto [v, i] = max(x, 1);
  EXPECT_EQ(v.to_vector(), (std::vector<double>{5, 7}));
  EXPECT_EQ(i.dtype(), DType::Int64);
  EXPECT_EQ(i.to_vector(), (std::vector<double>{1, 0}));  // first occurrence
  v.sum().backward();
  EXPECT_EQ(x.grad().cpu().to_vector(),
            (std::vector<double>{0, 1, 0, 1, 0, 0}));  // to the index only
  auto [vk, ik] = max(x, -2, true);
  EXPECT_EQ(vk.sizes(), (Shape{1, 3}));
  EXPECT_EQ(ik.to_vector(), (std::vector<double>{1, 0, 1}));
  Tensor y = leaf({3, 4, 2}, 3);
  for (int64_t d : {0, 1, -1})
    for (bool keep : {false, true})
      EXPECT_TRUE(
          gradcheck([d, keep](const TensorList& in) { return max(in[0], d, keep).first; }, {y}));
  EXPECT_TRUE(throws_with(
      [&] {
        max(zeros({2, 0}, on()), 1);
      },
      "max(): Expected reduction dim 1 to have non-zero size."));
  EXPECT_TRUE(throws_with([&] { max(zeros({2, 3}, on()), 2); }, "out of range"));
}

TEST_P(Reductions, MaxPropagatesNan) {
  Tensor x = dev(tensor({1, NAN, 3}));
  EXPECT_TRUE(std::isnan(max(x).item()));
  EXPECT_EQ(argmax(x, 0).item(), 1.0);
}

TEST_P(Reductions, AmaxSplitsTiesAmongEqualMaxima) {
  Tensor x = from_vector(std::vector<double>{4, 4, 1, 2, 3, 3}, {2, 3}, on(DType::Float64))
                 .set_requires_grad(true);
  amax(x, {1}).sum().backward();
  EXPECT_EQ(x.grad().cpu().to_vector(), (std::vector<double>{0.5, 0.5, 0, 0, 0.5, 0.5}));
  Tensor y = tie_leaf({3, 4, 2}, 4);
  EXPECT_TRUE(
      gradcheck([](const TensorList& in) { return amax(in[0], {1}); }, {leaf({3, 4, 2}, 5)}));
  EXPECT_TRUE(gradcheck(
      [](const TensorList& in) {
        return amax(in[0], {0, -1}, true);
      },
      {leaf({3, 4, 2}, 6)}));
  // With ties, finite differences are one-sided; check the split against the formula instead.
  Tensor out = amax(y, {0, 2}, true);
  out.sum().backward();
  const Tensor mask = eq(y.detach(), out.detach()).to(DType::Float64);
  const Tensor expect = mask / sum(mask, {0, 2}, true);
  EXPECT_EQ(y.grad().device(), device());
  EXPECT_TRUE(allclose(y.grad().cpu(), expect.cpu()));
  EXPECT_TRUE(throws_with(
      [&] {
        amax(zeros({2, 0}, on()), {1});
      },
      "amax(): Expected reduction dim 1 to have non-zero size."));
  EXPECT_TRUE(throws_with([&] { amax(zeros({2, 3}, on()), {0, -2}); }, "appears multiple times"));
}

TEST_P(Reductions, Argmax) {
  Tensor x = from_vector(std::vector<double>{1, 9, 9, 0, 2, 7}, {2, 3}, on());
  EXPECT_EQ(argmax(x, 1).cpu().to_vector(), (std::vector<double>{1, 2}));
  EXPECT_EQ(x.argmax(0, true).sizes(), (Shape{1, 3}));
  EXPECT_EQ(argmax(x, -2).cpu().to_vector(), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(argmax(arange(5, on(DType::Int64)), 0).item(), 4.0);  // integer input
}

// --- activations ------------------------------------------------------------------------------

TEST_P(Activation, Gradients) {
  Tensor x = leaf({3, 5}, 7);
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return relu(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return leaky_relu(in[0], 0.2); }, {x}));
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return gelu(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return gelu(in[0], "tanh"); }, {x}));
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return sigmoid(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return tandem::tanh(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return in[0].relu() * in[0].sigmoid(); }, {x}));
}

TEST_P(Activation, ValuesAndErrors) {
  Tensor x = dev(tensor({-2, 0, 3}));
  EXPECT_EQ(relu(x).cpu().to_vector(), (std::vector<double>{0, 0, 3}));
  EXPECT_NEAR(leaky_relu(x).cpu().to_vector()[0], -0.02, 1e-7);
  EXPECT_NEAR(sigmoid(x).cpu().to_vector()[1], 0.5, 1e-7);
  EXPECT_EQ(sigmoid(arange(3, on(DType::Int64))).dtype(), DType::Float32);  // integer promotes
  EXPECT_TRUE(
      throws_with([&] { gelu(x, "fast"); }, "approximate argument must be either none or tanh."));
}

TEST_P(Softmax, GradientsOverEveryDim) {
  Tensor x = leaf({2, 3, 4}, 8);
  for (int64_t d : {0, 1, 2, -1}) {
    EXPECT_TRUE(gradcheck([d](const TensorList& in) { return softmax(in[0], d); }, {x})) << d;
    EXPECT_TRUE(gradcheck([d](const TensorList& in) { return log_softmax(in[0], d); }, {x})) << d;
  }
  // Non-contiguous input.
  EXPECT_TRUE(
      gradcheck([](const TensorList& in) { return softmax(in[0].transpose(0, 2), 1); }, {x}));
}

TEST_P(Softmax, StableForLargeInputs) {
  Tensor x = dev(tensor({1000, 1001, 1002}));
  Tensor y = softmax(x, 0);
  EXPECT_NEAR(y.sum().item(), 1.0, 1e-6);
  EXPECT_NEAR(y.cpu().to_vector()[2], 0.66524096, 1e-6);
  Tensor l = log_softmax(dev(tensor({-1000, 0})), 0);
  EXPECT_NEAR(l.cpu().to_vector()[0], -1000.0, 1e-3);
  EXPECT_EQ(l.cpu().to_vector()[1], 0.0);
  EXPECT_TRUE(throws_with([&] { softmax(x, 1); }, "out of range"));
}

// --- linalg -----------------------------------------------------------------------------------

TEST_P(Matmul, ShapesFollowTorchRules) {
  auto shape = [&](const Shape& a, const Shape& b) {
    return matmul(zeros(a, on()), zeros(b, on())).sizes();
  };
  EXPECT_EQ(shape({4}, {4}), (Shape{}));
  EXPECT_EQ(shape({3, 4}, {4}), (Shape{3}));
  EXPECT_EQ(shape({4}, {4, 2}), (Shape{2}));
  EXPECT_EQ(shape({3, 4}, {4, 2}), (Shape{3, 2}));
  EXPECT_EQ(shape({5, 3, 4}, {4}), (Shape{5, 3}));
  EXPECT_EQ(shape({4}, {5, 4, 2}), (Shape{5, 2}));
  EXPECT_EQ(shape({2, 1, 3, 4}, {5, 4, 6}), (Shape{2, 5, 3, 6}));
  EXPECT_EQ(shape({3, 4}, {7, 4, 6}), (Shape{7, 3, 6}));
  EXPECT_EQ(shape({3, 0}, {0, 2}), (Shape{3, 2}));
  EXPECT_EQ(matmul(zeros({3, 0}, on()), zeros({0, 2}, on())).sum().item(), 0.0);
}

TEST_P(Matmul, Gradients) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{4}, {4}},          {{3, 4}, {4}},         {{4}, {4, 2}},    {{3, 4}, {4, 2}},
      {{2, 3, 4}, {4}},    {{2, 3, 4}, {4, 2}},   {{4}, {2, 4, 3}}, {{2, 1, 3, 4}, {5, 4, 2}},
      {{3, 4}, {2, 4, 5}}, {{2, 3, 4}, {2, 4, 5}}};
  uint64_t seed = 10;
  for (const auto& [sa, sb] : cases) {
    Tensor a = leaf(sa, seed++), b = leaf(sb, seed++);
    EXPECT_TRUE(gradcheck([](const TensorList& in) { return matmul(in[0], in[1]); }, {a, b}))
        << shape_str(sa) << " @ " << shape_str(sb);
  }
}

TEST_P(Matmul, OnlyOneOperandNeedsGrad) {
  // The backward of each operand needs the other one saved, even when that one needs no grad.
  for (const auto& [sa, sb] :
       std::vector<std::pair<Shape, Shape>>{{{3, 4}, {4, 2}}, {{2, 3, 4}, {2, 4, 5}}}) {
    Tensor a = leaf(sa, 20), b = leaf(sb, 21);
    Tensor ca = a.detach(), cb = b.detach();
    EXPECT_TRUE(gradcheck([&](const TensorList& in) { return matmul(in[0], cb); }, {a}));
    EXPECT_TRUE(gradcheck([&](const TensorList& in) { return matmul(ca, in[0]); }, {b}));
  }
}

TEST_P(Matmul, TransposedViewsNeedNoCopyAndAgree) {
  Tensor a = leaf({4, 3}, 30), b = leaf({5, 4}, 31);
  // a.t() and b.t() are transposed strided views: passed to BLAS with the transpose flag.
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return mm(in[0].t(), in[1].t()); }, {a, b}));
  Tensor expect = mm(a.detach().t().contiguous(), b.detach().t().contiguous());
  EXPECT_TRUE(allclose(mm(a.detach().t(), b.detach().t()).cpu(), expect.cpu(), 1e-12, 1e-12));
  // A view whose rows are strided (a slice with step) still works (copied).
  Tensor c = leaf({6, 4}, 32);
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return mm(in[0].slice(0, 0, 6, 2), in[1]); },
                        {c, leaf({4, 2}, 33)}));
}

TEST_P(Matmul, Float32MatchesFloat64) {
  Tensor a = leaf({3, 5}, 34).detach(), b = leaf({5, 2}, 35).detach();
  Tensor d = mm(a, b);
  Tensor f = mm(a.to(DType::Float32), b.to(DType::Float32));
  EXPECT_EQ(f.dtype(), DType::Float32);
  EXPECT_TRUE(allclose(f.to(DType::Float64).cpu(), d.cpu(), 1e-5, 1e-6));
}

TEST_P(Matmul, Errors) {
  EXPECT_TRUE(throws_with(
      [&] {
        mm(zeros({2, 3}, on()), zeros({4, 5}, on()));
      },
      "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"));
  EXPECT_TRUE(throws_with(
      [&] {
        mm(zeros({2, 3}, on()), zeros({3, 5}, on(DType::Float64)));
      },
      "expected scalar type Float but found Double"));
  EXPECT_TRUE(throws_with(
      [&] {
        mm(zeros({3}, on()), zeros({3, 5}, on()));
      },
      "self must be a matrix"));
  EXPECT_TRUE(
      throws_with([&] { matmul(scalar_tensor(1, on()), zeros({4}, on())); },
                  "both arguments to matmul need to be at least 1D, but they are 0D and 1D"));
  EXPECT_TRUE(throws_with([&] { matmul(zeros({3}, on()), zeros({4}, on())); },
                          "inconsistent tensor size, expected tensor [3] and src [4]"));
  EXPECT_TRUE(throws_with(
      [&] {
        matmul(zeros({2, 3}, on()), zeros({4}, on()));
      },
      "size mismatch, got 2, 2x3,4"));
  EXPECT_TRUE(throws_with(
      [&] {
        matmul(zeros({2, 3, 4}, on()), zeros({2, 5, 6}, on()));
      },
      "Expected size for first two dimensions of batch2 tensor to be: [2, 4] but got: [2, 5]."));
  EXPECT_TRUE(throws_with(
      [&] {
        matmul(zeros({2, 3, 4}, on()), zeros({3, 4, 6}, on()));
      },
      "must match the size of tensor b"));
}

TEST_P(Linear, GradientsAnyLeadingDims) {
  Tensor w = leaf({5, 4}, 40), b = leaf({5}, 41);
  for (const Shape& s : {Shape{4}, Shape{3, 4}, Shape{2, 3, 4}}) {
    Tensor x = leaf(s, 42);
    EXPECT_TRUE(
        gradcheck([](const TensorList& in) { return linear(in[0], in[1], in[2]); }, {x, w, b}));
    EXPECT_TRUE(gradcheck([](const TensorList& in) { return linear(in[0], in[1]); }, {x, w}));
  }
  EXPECT_EQ(linear(zeros({2, 3, 4}, on()), zeros({5, 4}, on()), zeros({5}, on())).sizes(),
            (Shape{2, 3, 5}));
  EXPECT_TRUE(throws_with(
      [&] {
        linear(zeros({2, 3}, on()), zeros({5, 4}, on()));
      },
      "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"));
}

// --- losses -----------------------------------------------------------------------------------

TEST_P(Loss, ReductionFromString) {
  EXPECT_EQ(reduction_from_string("none"), Reduction::None);
  EXPECT_EQ(reduction_from_string("mean"), Reduction::Mean);
  EXPECT_EQ(reduction_from_string("sum"), Reduction::Sum);
  EXPECT_TRUE(
      throws_with([] { reduction_from_string("avg"); }, "avg is not a valid value for reduction"));
}

TEST_P(Loss, CrossEntropyGradients) {
  Tensor x = leaf({5, 4}, 50);
  Tensor t = targets({0, 3, -100, 2, 1}, {5});
  Tensor w = leaf({4}, 51).detach().abs() + 0.5;
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None})
    for (double ls : {0.0, 0.2})
      for (bool weighted : {false, true}) {
        const Tensor wt = weighted ? w : Tensor();
        EXPECT_TRUE(gradcheck(
            [&](const TensorList& in) { return cross_entropy(in[0], t, wt, r, -100, ls); }, {x}))
            << int(r) << " ls=" << ls << " weighted=" << weighted;
      }
  // Custom ignore_index.
  EXPECT_TRUE(gradcheck(
      [&](const TensorList& in) {
        return cross_entropy(in[0], targets({0, 3, 1, 2, 1}, {5}), {}, Reduction::Mean, 1);
      },
      {x}));
}

TEST_P(Loss, CrossEntropySpatialAnd1D) {
  Tensor x = leaf({2, 3, 2, 2}, 52);
  Tensor t = targets({0, 1, 2, -100, 2, 2, 1, 0}, {2, 2, 2});
  Tensor w = dev(tensor({0.5, 1.0, 2.0}).to(DType::Float64));
  EXPECT_TRUE(gradcheck(
      [&](const TensorList& in) { return cross_entropy(in[0], t, w, Reduction::Mean, -100, 0.1); },
      {x}));
  EXPECT_TRUE(gradcheck(
      [&](const TensorList& in) { return cross_entropy(in[0], t, {}, Reduction::None); }, {x}));
  EXPECT_EQ(cross_entropy(x, t, {}, Reduction::None).sizes(), (Shape{2, 2, 2}));
  Tensor x1 = leaf({4}, 53);
  EXPECT_TRUE(gradcheck(
      [&](const TensorList& in) {
        return cross_entropy(in[0], scalar_tensor(2, on(DType::Int64)));
      },
      {x1}));
  EXPECT_TRUE(gradcheck(
      [&](const TensorList& in) {
        return cross_entropy(in[0], scalar_tensor(2, on(DType::Int64)), {}, Reduction::Sum, -100,
                             0.3);
      },
      {x1}));
}

TEST_P(Loss, CrossEntropyValues) {
  // Uniform logits: loss = log(C) for every sample.
  Tensor x = zeros({3, 4}, on());
  EXPECT_NEAR(cross_entropy(x, targets({0, 1, 2}, {3})).item(), std::log(4.0), 1e-6);
  // Mean over non-ignored only; weighted mean divides by the weights of the targets.
  Tensor y = from_vector(std::vector<double>{2, 0, 0, 0, 3, 0}, {2, 3}, on());
  Tensor lp = log_softmax(y, 1);
  const auto l = lp.cpu().to_vector();
  EXPECT_NEAR(cross_entropy(y, targets({0, -100}, {2})).item(), -l[0], 1e-6);
  Tensor w = dev(tensor({1, 2, 3}));
  EXPECT_NEAR(cross_entropy(y, targets({0, 2}, {2}), w).item(), -(1 * l[0] + 3 * l[5]) / 4, 1e-6);
  // All targets ignored: 0/0 = nan for 'mean', 0 for 'sum'; the gradient is zero, not nan.
  Tensor z = leaf({2, 3}, 54);
  Tensor all_ignored = cross_entropy(z, targets({-100, -100}, {2}));
  EXPECT_TRUE(std::isnan(all_ignored.item()));
  EXPECT_EQ(cross_entropy(z, targets({-100, -100}, {2}), {}, Reduction::Sum).item(), 0.0);
  all_ignored.backward();
  EXPECT_EQ(z.grad().abs().sum().item(), 0.0);
}

TEST_P(Loss, CrossEntropyErrors) {
  Tensor x = zeros({3, 4}, on());
  EXPECT_TRUE(throws_with(
      [&] {
        cross_entropy(x, targets({0, 5, 1}, {3})).item();  // a device reports it at a wait
      },
      "Target 5 is out of bounds."));
  EXPECT_TRUE(throws_with(
      [&] {
        cross_entropy(x, targets({0, -3, 1}, {3})).item();
      },
      "Target -3 is out of bounds."));
  EXPECT_TRUE(throws_with(
      [&] {
        cross_entropy(x, targets({0, 1}, {2}));
      },
      "Expected input batch_size (3) to match target batch_size (2)."));
  EXPECT_TRUE(throws_with(
      [&] {
        cross_entropy(zeros({3, 4, 5}, on()), zeros({3, 4}, on(DType::Int64)));
      },
      "Expected target size [3, 5], got [3, 4]"));
  EXPECT_TRUE(throws_with([&] { cross_entropy(x, zeros({3}, on())); },
                          "expected scalar type Long but found Float"));
  EXPECT_TRUE(throws_with(
      [&] {
        cross_entropy(x, targets({0, 1, 1}, {3}), {}, Reduction::Mean, -100, 1.5);
      },
      "label_smoothing must be between 0.0 and 1.0. Got: 1.5"));
  EXPECT_TRUE(throws_with(
      [&] {
        cross_entropy(x, targets({0, 1, 1}, {3}), ones({3}, on()));
      },
      "weight tensor should be defined either for all 4 classes or no classes but got weight "
      "tensor of shape: [3]"));
}

TEST_P(Loss, NllLossGradientsAndValues) {
  Tensor x = leaf({4, 3}, 55);
  Tensor t = targets({2, 0, -100, 1}, {4});
  Tensor w = dev(tensor({0.3, 1.0, 2.0}).to(DType::Float64));
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    EXPECT_TRUE(gradcheck([&](const TensorList& in) { return nll_loss(in[0], t, {}, r); }, {x}));
    EXPECT_TRUE(gradcheck([&](const TensorList& in) { return nll_loss(in[0], t, w, r); }, {x}));
  }
  Tensor lp = from_vector(std::vector<double>{-1, -2, -3, -4, -5, -6}, {2, 3}, on());
  EXPECT_NEAR(nll_loss(lp, targets({2, 1}, {2})).item(), (3 + 5) / 2.0, 1e-6);
  EXPECT_EQ(nll_loss(lp, targets({2, 1}, {2}), {}, Reduction::None).cpu().to_vector(),
            (std::vector<double>{3, 5}));
}

TEST_P(Loss, MseLoss) {
  Tensor a = leaf({3, 4}, 56), b = leaf({3, 4}, 57);
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None})
    EXPECT_TRUE(gradcheck([r](const TensorList& in) { return mse_loss(in[0], in[1], r); }, {a, b}));
  EXPECT_NEAR(mse_loss(dev(tensor({1, 2})), dev(tensor({3, 2}))).item(), 2.0, 1e-7);
  EXPECT_NEAR(mse_loss(dev(tensor({1, 2})), dev(tensor({3, 2})), Reduction::Sum).item(), 4.0, 1e-7);
  // Integer operands are PyTorch's error; an integer target beside a float input promotes.
  const Tensor ints = dev(tensor({1, 2})).to(DType::Int64);
  EXPECT_TRUE(
      throws_with([&] { mse_loss(ints, ints, Reduction::None); }, "\" not implemented for 'Long'"));
  EXPECT_NEAR(mse_loss(dev(tensor({1, 2})), ints + 1).item(), 1.0, 1e-7);
}

// --- shape ops --------------------------------------------------------------------------------

TEST_P(ShapeOps, CatGradientsAndValues) {
  Tensor a = leaf({2, 3}, 60), b = leaf({1, 3}, 61), c = leaf({2, 2}, 62);
  EXPECT_TRUE(gradcheck([](const TensorList& in) { return cat({in[0], in[1]}, 0); }, {a, b}));
  EXPECT_TRUE(gradcheck(
      [](const TensorList& in) {
        return cat({in[0], in[1], in[0]}, -1);
      },
      {a, c}));
  Tensor x = cat({dev(tensor({1, 2})), dev(tensor({3}))});
  EXPECT_EQ(x.device(), device());
  EXPECT_EQ(x.cpu().to_vector(), (std::vector<double>{1, 2, 3}));
  // dtype promotion, and legacy empty [0] tensors are skipped.
  EXPECT_EQ(cat({arange(2, on(DType::Int64)), dev(tensor({0.5}))}).dtype(), DType::Float32);
  EXPECT_EQ(cat({zeros({0}, on()), ones({2, 2}, on())}, 1).sizes(), (Shape{2, 2}));
}

TEST_P(ShapeOps, CatErrors) {
  EXPECT_TRUE(
      throws_with([&] { cat({}, 0); }, "torch.cat(): expected a non-empty list of Tensors"));
  EXPECT_TRUE(throws_with(
      [&] {
        cat({zeros({2, 3}, on()), zeros({2, 4}, on())}, 0);
      },
      "Sizes of tensors must match except in dimension 0. Expected size 3 but got size 4 for "
      "tensor number 1 in the list."));
  EXPECT_TRUE(throws_with(
      [&] {
        cat({zeros({2, 3}, on()), zeros({2, 4, 1}, on())}, 0);
      },
      "Tensors must have same number of dimensions: got 2 and 3"));
  EXPECT_TRUE(throws_with([&] { cat({zeros({2, 3}, on())}, 2); }, "out of range"));
}

TEST_P(ShapeOps, Stack) {
  Tensor a = leaf({2, 3}, 63), b = leaf({2, 3}, 64);
  for (int64_t d : {0, 1, 2, -1})
    EXPECT_TRUE(gradcheck(
        [d](const TensorList& in) {
          return stack({in[0], in[1]}, d);
        },
        {a, b}))
        << d;
  EXPECT_EQ(stack({a, b, a}, 1).sizes(), (Shape{2, 3, 3}));
  EXPECT_TRUE(throws_with(
      [&] {
        stack({zeros({2, 3}, on()), zeros({2, 4}, on())});
      },
      "stack expects each tensor to be equal size, but got [2, 3] at entry 0 and [2, 4] at entry "
      "1"));
  EXPECT_TRUE(throws_with([] { stack({}); }, "stack expects a non-empty TensorList"));
}

TEST_P(ShapeOps, IndexSelect) {
  Tensor x = leaf({4, 3}, 65);
  Tensor idx = targets({3, 0, 3, 1}, {4});  // repeats accumulate in backward
  EXPECT_TRUE(gradcheck([&](const TensorList& in) { return index_select(in[0], 0, idx); }, {x}));
  EXPECT_TRUE(gradcheck(
      [&](const TensorList& in) {
        return index_select(in[0], -1, targets({2, 2}, {2}));
      },
      {x}));
  Tensor y = from_vector(std::vector<double>{0, 1, 2, 3, 4, 5}, {2, 3}, on());
  EXPECT_EQ(index_select(y, 1, targets({2, 0}, {2})).cpu().to_vector(),
            (std::vector<double>{2, 0, 5, 3}));
  EXPECT_EQ(index_select(arange(5, on(DType::Int64)), 0, targets({4}, {1})).item(),
            4.0);  // integer data
  EXPECT_TRUE(throws_with(
      [&] {
        index_select(y, 1, targets({0, 3}, {2})).cpu();  // a device reports it at a wait
      },
      "index out of range in self"));
  EXPECT_TRUE(throws_with([&] { index_select(y, 1, zeros({2}, on())); },
                          "index_select(): Expected dtype int32 or int64 for index"));
  EXPECT_TRUE(equal(index_select(y, 1, targets({0, 2}, {2}).to(DType::Int32)).cpu(),
                    index_select(y, 1, targets({0, 2}, {2})).cpu()));  // int32 indices too
  EXPECT_TRUE(throws_with(
      [&] {
        index_select(y, 1, targets({0, 1}, {1, 2}));
      },
      "index_select(): Index is supposed to be a vector"));
}

TANDEM_INSTANTIATE_DEVICE_TEST(Reductions);
TANDEM_INSTANTIATE_DEVICE_TEST(Activation);
// View ops at their edges, in PyTorch 1.13's words: 0-dim tensors, t() by rank, expand's sizes,
// permute's dims, cat of a scalar, the dim-range error.
TEST(ShapeOpsEdges, AsPyTorch) {
  using tandem::testing::error_text;
  const Tensor s = scalar_tensor(3.0), v = zeros({3}), m = zeros({2, 3});
  EXPECT_EQ(error_text([&] { s.select(0, 0); }), "select() cannot be applied to a 0-dim tensor.");
  EXPECT_EQ(error_text([&] { s.narrow(0, 0, 1); }),
            "narrow() cannot be applied to a 0-dim tensor.");
  EXPECT_EQ(error_text([&] { s.slice(0, 0, 1); }), "slice() cannot be applied to a 0-dim tensor.");
  EXPECT_EQ(s.t().dim(), 0);
  EXPECT_EQ(v.t().sizes(), (Shape{3}));
  EXPECT_EQ(m.t().sizes(), (Shape{3, 2}));
  EXPECT_EQ(error_text([&] {
              zeros({2, 3, 4}).t();
            }),
            "t() expects a tensor with <= 2 dimensions, but self is 3D");
  EXPECT_THROW(zeros({1}).expand({-2}), Error);
  EXPECT_EQ(error_text([&] {
              zeros({1}).expand({-1, 1});
            }),
            "The expanded size of the tensor (-1) isn't allowed in a leading, non-existing "
            "dimension 0");
  EXPECT_EQ(error_text([&] { m.permute({0, 0}); }), "permute(): duplicate dims are not allowed.");
  EXPECT_EQ(error_text([&] {
              m.permute({0, 1, 2});
            }),
            "permute(): number of dimensions in the tensor input does not match the length of "
            "the desired ordering of dimensions i.e. input.dim() = 2 is not equal to len(dims) = "
            "3");
  EXPECT_EQ(error_text([&] {
              cat({m, s});
            }),
            "zero-dimensional tensor (at position 1) cannot be concatenated");
  EXPECT_EQ(error_text([&] { m.sum({5}); }),
            "Dimension out of range (expected to be in range of [-2, 1], but got 5)");
}

TANDEM_INSTANTIATE_DEVICE_TEST(Softmax);
TANDEM_INSTANTIATE_DEVICE_TEST(Matmul);
TANDEM_INSTANTIATE_DEVICE_TEST(Linear);
TANDEM_INSTANTIATE_DEVICE_TEST(Loss);
TANDEM_INSTANTIATE_DEVICE_TEST(ShapeOps);
TANDEM_INSTANTIATE_DEVICE_TEST(Promotion);
