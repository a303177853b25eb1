// End to end: a 2-layer MLP (linear-relu-linear) trained with cross_entropy on synthetic,
// linearly separable 3-class data by a plain SGD loop (updates under NoGradGuard). The loss must
// fall substantially and the training accuracy must become near perfect.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/autograd/grad_mode.h"
#include "framework/ops/ops.h"

using namespace tandem;

TEST(MlpTraining, LossFallsWithSgd) {
  Generator gen(42);
  const int64_t per_class = 40, classes = 3, hidden = 16;
  // Three well separated blobs around (4, 0), (-2, 3.5), (-2, -3.5).
  const std::vector<std::pair<double, double>> centers = {{4, 0}, {-2, 3.5}, {-2, -3.5}};
  std::vector<double> xs;
  std::vector<int64_t> ys;
  const std::vector<double> noise =
      randn({per_class * classes, 2}, gen, TensorOptions(DType::Float64)).to_vector();
  for (int64_t c = 0; c < classes; ++c)
    for (int64_t i = 0; i < per_class; ++i) {
      const size_t k = size_t(c * per_class + i) * 2;
      xs.push_back(centers[size_t(c)].first + noise[k]);
      xs.push_back(centers[size_t(c)].second + noise[k + 1]);
      ys.push_back(c);
    }
  const Tensor x = from_vector(xs, {per_class * classes, 2});
  const Tensor y = from_vector(ys, {per_class * classes});

  // PyTorch's default Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  auto param = [&](const Shape& shape, int64_t fan_in) {
    Tensor t = empty(shape);
    const double bound = 1.0 / std::sqrt(double(fan_in));
    uniform_(t, -bound, bound, gen);
    return t.set_requires_grad(true);
  };
  Tensor w1 = param({hidden, 2}, 2), b1 = param({hidden}, 2);
  Tensor w2 = param({classes, hidden}, hidden), b2 = param({classes}, hidden);
  std::vector<Tensor> params = {w1, b1, w2, b2};

  const double lr = 0.1;
  double first = 0, last = 0;
  for (int step = 0; step < 200; ++step) {
    Tensor logits = linear(relu(linear(x, w1, b1)), w2, b2);
    Tensor loss = cross_entropy(logits, y);
    if (step == 0) first = loss.item();
    last = loss.item();
    for (Tensor& p : params) p.set_grad(Tensor());
    loss.backward();
    NoGradGuard no_grad;
    for (Tensor& p : params) p.sub_(p.grad(), lr);
  }
  EXPECT_GT(first, 0.5);
  EXPECT_LT(last, 0.1 * first) << "loss " << first << " -> " << last;

  NoGradGuard no_grad;
  const Tensor pred = argmax(linear(relu(linear(x, w1, b1)), w2, b2), 1);
  const double accuracy = sum(eq(pred, y)).item() / double(y.numel());
  EXPECT_GE(accuracy, 0.98);
}
