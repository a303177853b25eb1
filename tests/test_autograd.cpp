// Engine semantics: accumulation through shared subgraphs, retain_graph, no-grad, hooks and
// their order, and the errors PyTorch users know; gradients of the elementwise ops and views
// against finite differences. Every test runs on `cpu` and `cuda` (tests/device_test.h).
#include <gtest/gtest.h>

#include "framework/autograd/engine.h"
#include "framework/autograd/grad_mode.h"
#include "framework/ops/ops.h"
#include "tests/device_test.h"
#include "tests/error_text.h"
#include "tests/gradcheck.h"

using namespace tandem;
using tandem::testing::error_text;

namespace {
// `values` (made on the host) on the test's device.
class OnDevice : public tandem::testing::DeviceTest {
 protected:
  Tensor dev(std::initializer_list<double> values) const { return tensor(values).to(device()); }
  Tensor leaf(const Shape& shape, uint64_t seed) const {
    return tandem::testing::leaf(shape, seed, device());
  }
};
}  // namespace

class Autograd : public OnDevice {};
class Gradcheck : public OnDevice {};

TEST_P(Autograd, SharedSubgraphAccumulates) {
  Tensor x = dev({1, 2, 3}).set_requires_grad(true);
  Tensor y = x * x;  // used twice below
  Tensor z = (y + y * 3.0).sum();
  z.backward();
  // dz/dx = 4 * 2x
  EXPECT_EQ(x.grad().cpu().to_vector(), (std::vector<double>{8, 16, 24}));
  // A second backward accumulates into .grad.
  ((x * 2.0).sum()).backward();
  EXPECT_EQ(x.grad().cpu().to_vector(), (std::vector<double>{10, 18, 26}));
}

TEST_P(Autograd, RetainGraphAndFreedGraphError) {
  Tensor x = dev({2}).set_requires_grad(true);
  Tensor y = (x * x).sum();
  y.backward({}, /*retain_graph=*/true);
  y.backward();
  EXPECT_EQ(x.grad().item(), 8.0);
  try {
    y.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Trying to backward through the graph a second time"),
              std::string::npos);
  }
}

TEST_P(Autograd, NonScalarNeedsGradient) {
  Tensor x = dev({1, 2}).set_requires_grad(true);
  Tensor y = x * 2.0;
  EXPECT_THROW(y.backward(), Error);
  y.backward(dev({1, 1}));
  EXPECT_EQ(x.grad().cpu().to_vector(), (std::vector<double>{2, 2}));
}

TEST_P(Autograd, InplaceModificationOfSavedTensorIsDetected) {
  Tensor x = dev({1, 2}).set_requires_grad(true);
  Tensor w = dev({3, 4});
  Tensor y = (x * w).sum();
  w.mul_(2.0);
  try {
    y.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("modified by an inplace operation"), std::string::npos)
        << e.what();
  }
}

TEST_P(Autograd, NoGradRecordsNothing) {
  Tensor x = dev({1}).set_requires_grad(true);
  Tensor y;
  {
    NoGradGuard guard;
    y = x * 2.0;
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE((x * 2.0).requires_grad());
  EXPECT_FALSE(x.detach().requires_grad());
  EXPECT_THROW(dev({1}).backward(), Error);
}

TEST_P(Autograd, HooksRunInOrderAndCanReplace) {
  Tensor x = dev({1, 2}).set_requires_grad(true);
  std::vector<std::string> order;
  x.register_hook([&](const Tensor& g) {
    order.push_back("leaf");
    return g * 10.0;
  });
  x.register_post_accumulate_grad_hook([&](const Tensor& t) {
    order.push_back("post");
    EXPECT_EQ(t.grad().cpu().to_vector(), (std::vector<double>{10, 10}));
  });
  Tensor y = x * 1.0;
  int h = y.register_hook([&](const Tensor&) {
    order.push_back("nonleaf");
    return Tensor();
  });
  y.sum().backward();
  EXPECT_EQ(order, (std::vector<std::string>{"nonleaf", "leaf", "post"}));
  y.remove_hook(h);
}

TEST_P(Autograd, HooksMayNotChangeTypeOrShape) {
  // As PyTorch's check_variable_result: "hook 'h' has changed the type of value (was
  // torch.FloatTensor got torch.DoubleTensor)", "... has changed the size of value".
  for (const bool leaf : {true, false}) {
    Tensor x = dev({1, 2, 3}).set_requires_grad(true);
    Tensor y = leaf ? x : x * 2.0;
    int h = y.register_hook([](const Tensor& g) { return g.to(DType::Float64); });
    std::string text = error_text([&] { (y * 1.0).sum().backward(); });
    EXPECT_NE(text.find("has changed the type of value (was torch."), std::string::npos) << text;
    EXPECT_NE(text.find("FloatTensor got torch."), std::string::npos) << text;
    EXPECT_NE(text.find("DoubleTensor)"), std::string::npos) << text;
    y.remove_hook(h);
    y.register_hook([](const Tensor& g) { return g.sum(); });
    text = error_text([&] { (y * 1.0).sum().backward(); });
    EXPECT_NE(text.find("has changed the size of value (was [3] got [])"), std::string::npos)
        << text;
    EXPECT_FALSE(x.grad().defined());
  }
}

TEST_P(Autograd, RetainGradOnNonLeaf) {
  Tensor x = dev({1, 2}).set_requires_grad(true);
  Tensor y = x * 3.0;
  y.retain_grad();
  (y * y).sum().backward();
  EXPECT_EQ(y.grad().cpu().to_vector(), (std::vector<double>{6, 12}));
}

TEST_P(Autograd, QueueCallbackRunsAfterAllNodes) {
  Tensor x = dev({1}).set_requires_grad(true);
  bool accumulated_before_callback = false;
  x.register_hook([&](const Tensor& g) {
    autograd::queue_callback([&] { accumulated_before_callback = x.grad().defined(); });
    return g;
  });
  (x * 2.0).sum().backward();
  EXPECT_TRUE(accumulated_before_callback);
}

TEST_P(Autograd, LeafInplaceRefused) {
  Tensor x = dev({1}).set_requires_grad(true);
  EXPECT_THROW(x.add_(1.0), Error);
  NoGradGuard g;
  x.add_(1.0);
  EXPECT_EQ(x.item(), 2.0);
}

// An in-place op whose operand requires grad would give that operand no gradient (tandem records
// no in-place op): it is refused, where PyTorch records it. Under no_grad it runs.
TEST_P(Autograd, InplaceWithAnOperandThatRequiresGradIsRefused) {
  Tensor w = dev({1, 2}), x = dev({3, 4}).set_requires_grad(true);
  EXPECT_NE(error_text([&] { w.add_(x); }).find("add_: the operand requires grad"),
            std::string::npos);
  EXPECT_THROW(w.mul_(x), Error);
  EXPECT_EQ(w.to_vector(), (std::vector<double>{1, 2}));
  NoGradGuard g;
  w.add_(x);
  EXPECT_EQ(w.to_vector(), (std::vector<double>{4, 6}));
}

// PyTorch 1.13's behaviour and words at the edges of the autograd API.
TEST_P(Autograd, EdgesOfTheApiAsPyTorch) {
  {  // requires_grad cleared after the forward: no .grad
    Tensor x = dev({1, 2}).set_requires_grad(true);
    Tensor y = (x * 3.0).sum();
    x.set_requires_grad(false);
    y.backward();
    EXPECT_FALSE(x.grad().defined());
  }
  {  // requires_grad_(true) on a computed tensor is a no-op; false is an error
    Tensor x = dev({1, 2}).set_requires_grad(true);
    Tensor y = x * 2.0;
    y.set_requires_grad(true);
    EXPECT_TRUE(y.requires_grad());
    EXPECT_NE(
        error_text([&] { y.set_requires_grad(false); }).find("use var_no_grad = var.detach()."),
        std::string::npos);
  }
  {  // set_grad's checks
    Tensor x = dev({1, 2}).set_requires_grad(true);
    EXPECT_EQ(error_text([&] { x.set_grad(x); }), "can't assign Variable as its own grad");
    EXPECT_EQ(error_text([&] {
                x.set_grad(dev({1, 2}).to(DType::Float64));
              }),
              "assigned grad has data of a different type");
    EXPECT_EQ(error_text([&] {
                x.set_grad(dev({1, 2, 3}));
              }),
              "assigned grad has data of a different size");
    if (device().is_cuda()) {
      EXPECT_EQ(error_text([&] {
                  x.set_grad(tensor({1, 2}));
                }),
                "assigned grad has data of a different type");
    }
  }
  {  // backward's arguments: the root's gradient takes its dtype; shape and count errors
    Tensor x = dev({1, 2}).set_requires_grad(true);
    Tensor y = x * 2.0;
    y.retain_grad();
    y.backward(dev({1, 1}).to(DType::Float64));
    EXPECT_EQ(y.grad().dtype(), DType::Float32);
    EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, 2}));
    Tensor z = x * 2.0;
    EXPECT_EQ(error_text([&] {
                z.backward(dev({1, 1, 1}));
              }),
              "Mismatch in shape: grad_output[0] has a shape of torch.Size([3]) and output[0] "
              "has a shape of torch.Size([2]).");
    EXPECT_EQ(error_text([&] {
                autograd::backward({z, z}, {dev({1, 1})});
              }),
              "got 2 tensors and 1 gradients");
  }
}

TEST_P(Gradcheck, ElementwiseOps) {
  using autograd::TensorList;
  using tandem::testing::gradcheck;
  Tensor a = leaf({2, 3}, 1), b = leaf({3}, 2), c = leaf({2, 1}, 3);
  Tensor pos = (leaf({2, 3}, 4).abs() + 0.5).detach().set_requires_grad(true);
  EXPECT_TRUE(gradcheck([](const TensorList& x) { return x[0] + x[1]; }, {a, b}));
  EXPECT_TRUE(gradcheck([](const TensorList& x) { return sub(x[0], x[1], 2.0); }, {a, c}));
  EXPECT_TRUE(gradcheck([](const TensorList& x) { return x[0] * x[1]; }, {a, b}));
  EXPECT_TRUE(gradcheck([](const TensorList& x) { return x[0] / x[1]; }, {a, pos}));
  EXPECT_TRUE(gradcheck([](const TensorList& x) { return -x[0]; }, {a}));
  EXPECT_TRUE(gradcheck([](const TensorList& x) { return pow(x[0], 3.0); }, {a}));
  EXPECT_TRUE(gradcheck([](const TensorList& x) { return pow(x[0], x[1]); }, {pos, a}));
  EXPECT_TRUE(gradcheck([](const TensorList& x) { return exp(x[0]); }, {a}));
  EXPECT_TRUE(gradcheck([](const TensorList& x) { return log(x[0]); }, {pos}));
  EXPECT_TRUE(gradcheck([](const TensorList& x) { return sqrt(x[0]); }, {pos}));
  EXPECT_TRUE(gradcheck([](const TensorList& x) { return abs(x[0]); }, {a}));
  EXPECT_TRUE(gradcheck([](const TensorList& x) { return clamp(x[0], -0.5, 0.5); }, {a}));
  EXPECT_TRUE(gradcheck([](const TensorList& x) { return maximum(x[0], x[1]); }, {a, b}));
  EXPECT_TRUE(gradcheck([](const TensorList& x) { return x[0].sum({1}, true) * x[0]; }, {a}));
  EXPECT_TRUE(gradcheck([](const TensorList& x) { return x[0].mean({0}); }, {a}));
  EXPECT_TRUE(
      gradcheck([](const TensorList& x) { return x[0].t().reshape({6}).narrow(0, 1, 3); }, {a}));
  EXPECT_TRUE(gradcheck(
      [](const TensorList& x) {
        return x[0].unsqueeze(1).expand({2, 4, 3}).select(1, 2);
      },
      {a}));
  EXPECT_TRUE(gradcheck(
      [](const TensorList& x) {
        return x[0].permute({1, 0}).slice(0, 0, 3, 2);
      },
      {a}));
}

// gradcheck perturbs strided leaves in their own memory (on any device), and refuses leaves
// whose elements overlap, where one write would move several elements.
TEST_P(Gradcheck, StridedLeavesAndOverlapRefused) {
  using autograd::TensorList;
  using tandem::testing::gradcheck;
  Tensor base = leaf({4, 3}, 5).detach();
  Tensor transposed = base.t().set_requires_grad(true);  // a strided leaf
  EXPECT_FALSE(transposed.is_contiguous());
  Tensor stepped = base.slice(0, 0, 4, 2).set_requires_grad(true);
  const std::vector<double> before = base.cpu().to_vector();
  EXPECT_TRUE(gradcheck([](const TensorList& x) { return exp(x[0]) * x[0]; }, {transposed}));
  EXPECT_TRUE(
      gradcheck([](const TensorList& x) { return x[0].sum({0}) * x[1]; }, {stepped, leaf({3}, 6)}));
  EXPECT_EQ(base.cpu().to_vector(), before);  // every perturbation undone
  Tensor expanded = leaf({3}, 7).detach().expand({2, 3}).set_requires_grad(true);
  const auto refused = gradcheck([](const TensorList& x) { return x[0] * 2.0; }, {expanded});
  EXPECT_FALSE(refused);
  EXPECT_NE(std::string(refused.message()).find("overlapping memory"), std::string::npos)
      << refused.message();
}

TANDEM_INSTANTIATE_DEVICE_TEST(Autograd);
TANDEM_INSTANTIATE_DEVICE_TEST(Gradcheck);
