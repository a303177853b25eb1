// conv2d, conv_transpose2d, pooling, batch_norm, dropout and interpolate: forward and gradients
// against PyTorch 1.13 (tests/fixtures/ops_spatial.json from make_ops_spatial.py; one test per
// case and device, OpsSpatialGolden.MatchesPyTorch/bilinear_align_cuda), gradients against
// finite differences, and the errors users meet; every test runs on `cpu` and `cuda`.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "framework/ops/ops.h"
#include "tests/device_test.h"
#include "tests/golden_cases.h"
#include "tests/gradcheck.h"

using namespace tandem;
using autograd::TensorList;
using nlohmann::json;
using tandem::testing::gradcheck;
using tandem::testing::leaf;

namespace {

using OpFn = std::function<Tensor(const TensorList&, Tensor& rm, Tensor& rv)>;

const std::map<std::string, OpFn>& ops() {
  static const std::map<std::string, OpFn> m = {
      {"conv2d", [](const TensorList& x, Tensor&, Tensor&) { return conv2d(x[0], x[1], x[2]); }},
      {"conv2d_stride_pad",
       [](const TensorList& x, Tensor&, Tensor&) {
         return conv2d(x[0], x[1], x[2], {2, 1}, {1, 2});
       }},
      {"conv2d_dilation_groups",
       [](const TensorList& x, Tensor&, Tensor&) {
         return conv2d(x[0], x[1], {}, {1, 1}, {2, 2}, {2, 2}, 2);
       }},
      {"conv2d_1x1",
       [](const TensorList& x, Tensor&, Tensor&) { return conv2d(x[0], x[1], x[2]); }},
      {"conv_transpose2d",
       [](const TensorList& x, Tensor&, Tensor&) {
         return conv_transpose2d(x[0], x[1], x[2], {2, 2}, {1, 1}, {1, 1});
       }},
      {"conv_transpose2d_groups_dilation",
       [](const TensorList& x, Tensor&, Tensor&) {
         return conv_transpose2d(x[0], x[1], {}, {1, 1}, {1, 1}, {0, 0}, 2, {2, 2});
       }},
      {"max_pool2d",
       [](const TensorList& x, Tensor&, Tensor&) {
         return max_pool2d(x[0], {2, 2});
       }},
      {"max_pool2d_ceil_pad",
       [](const TensorList& x, Tensor&, Tensor&) {
         return max_pool2d(x[0], {3, 3}, {2, 2}, {1, 1}, {1, 1}, true);
       }},
      {"max_pool2d_dilation",
       [](const TensorList& x, Tensor&, Tensor&) {
         return max_pool2d(x[0], {2, 2}, {1, 1}, {0, 0}, {2, 2});
       }},
      {"avg_pool2d",
       [](const TensorList& x, Tensor&, Tensor&) {
         return avg_pool2d(x[0], {2, 2});
       }},
      {"avg_pool2d_pad_ceil",
       [](const TensorList& x, Tensor&, Tensor&) {
         return avg_pool2d(x[0], {3, 3}, {2, 2}, {1, 1}, true, true);
       }},
      {"avg_pool2d_exclude_pad",
       [](const TensorList& x, Tensor&, Tensor&) {
         return avg_pool2d(x[0], {3, 3}, {2, 2}, {1, 1}, true, false);
       }},
      {"adaptive_avg_pool2d",
       [](const TensorList& x, Tensor&, Tensor&) {
         return adaptive_avg_pool2d(x[0], {3, 4});
       }},
      {"adaptive_avg_pool2d_1x1",
       [](const TensorList& x, Tensor&, Tensor&) {
         return adaptive_avg_pool2d(x[0], {1, 1});
       }},
      {"batch_norm_train_4d",
       [](const TensorList& x, Tensor& rm, Tensor& rv) {
         return batch_norm(x[0], rm, rv, x[1], x[2], true, 0.3);
       }},
      {"batch_norm_train_2d",
       [](const TensorList& x, Tensor& rm, Tensor& rv) {
         return batch_norm(x[0], rm, rv, x[1], x[2], true, 0.3);
       }},
      {"batch_norm_train_1x1",
       [](const TensorList& x, Tensor& rm, Tensor& rv) {
         return batch_norm(x[0], rm, rv, x[1], x[2], true, 0.3);
       }},
      {"batch_norm_eval", [](const TensorList& x, Tensor& rm,
                             Tensor& rv) { return batch_norm(x[0], rm, rv, x[1], x[2], false); }},
      {"nearest_size",
       [](const TensorList& x, Tensor&, Tensor&) {
         return interpolate(x[0], Pair{7, 9}, {}, "nearest");
       }},
      {"nearest_scale",
       [](const TensorList& x, Tensor&, Tensor&) {
         return interpolate(x[0], {}, UpsampleScale{2, 2}, "nearest");
       }},
      {"nearest_scale_fraction",
       [](const TensorList& x, Tensor&, Tensor&) {
         return interpolate(x[0], {}, UpsampleScale{1.7, 1.7}, "nearest");
       }},
      {"bilinear",
       [](const TensorList& x, Tensor&, Tensor&) {
         return interpolate(x[0], Pair{7, 9}, {}, "bilinear");
       }},
      {"bilinear_align",
       [](const TensorList& x, Tensor&, Tensor&) {
         return interpolate(x[0], Pair{7, 9}, {}, "bilinear", true);
       }},
      {"bilinear_scale",
       [](const TensorList& x, Tensor&, Tensor&) {
         return interpolate(x[0], {}, UpsampleScale{2, 2}, "bilinear");
       }},
      {"conv_transpose2d_output_padding_dilation",
       [](const TensorList& x, Tensor&, Tensor&) {
         return conv_transpose2d(x[0], x[1], {}, {1, 1}, {0, 0}, {1, 1}, 1, {2, 2});
       }},
      {"nearest_size_float_scale",
       [](const TensorList& x, Tensor&, Tensor&) {
         return interpolate(x[0], Pair{22, 3}, {}, "nearest");
       }},
      {"bilinear_scale_same_size",
       [](const TensorList& x, Tensor&, Tensor&) {
         return interpolate(x[0], {}, UpsampleScale{1.1, 1.0}, "bilinear");
       }},
  };
  return m;
}

const json& cases() {
  static const json c = tandem::testing::fixture_cases("ops_spatial.json");
  return c;
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rtol,
                  double atol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], atol + rtol * std::abs(want[i])) << what << " element " << i;
}

}  // namespace

class OpsSpatialGolden : public tandem::testing::GoldenCaseTest {};

TEST(OpsSpatialGoldenFixture, HasEveryOp) {
  ASSERT_EQ(cases().size(), ops().size()) << "fixture ops_spatial.json";
  for (const auto& c : cases()) EXPECT_TRUE(ops().count(c["name"])) << c["name"];
}

TEST_P(OpsSpatialGolden, MatchesPyTorch) {
  const json& c = cases()[case_index()];
  const std::string name = c["name"];
  ASSERT_TRUE(ops().count(name)) << "no op for case " << name;
  TensorList inputs;
  for (size_t i = 0; i < c["inputs"].size(); ++i)
    inputs.push_back(
        from_vector(c["inputs"][i].get<std::vector<double>>(), c["shapes"][i].get<Shape>())
            .to(device())
            .set_requires_grad(true));
  Tensor rm, rv;
  if (c.contains("running_mean")) {
    rm = from_vector(c["running_mean"].get<std::vector<double>>(), {4}).to(device());
    rv = from_vector(c["running_var"].get<std::vector<double>>(), {4}).to(device());
  }
  Tensor out = ops().at(name)(inputs, rm, rv);
  EXPECT_EQ(out.sizes(), c["out_shape"].get<Shape>());
  EXPECT_EQ(out.device(), device());
  expect_close(out.cpu().to_vector(), c["out"].get<std::vector<double>>(), 1e-5, 1e-5,
               name + " forward");
  Tensor v = from_vector(c["v"].get<std::vector<double>>(), out.sizes()).to(device());
  (out * v).sum().backward();
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!c["grads"][i].is_null()) {
      ASSERT_TRUE(inputs[i].grad().defined()) << name << " input " << i << " got no gradient";
      EXPECT_EQ(inputs[i].grad().device(), device());
      expect_close(inputs[i].grad().cpu().to_vector(), c["grads"][i].get<std::vector<double>>(),
                   1e-4, 1e-4, name + " grad of input " + std::to_string(i));
    }
  if (rm.defined()) {
    EXPECT_EQ(rm.device(), device());
    expect_close(rm.cpu().to_vector(), c["running_mean_after"].get<std::vector<double>>(), 1e-5,
                 1e-6, name + " running_mean");
    expect_close(rv.cpu().to_vector(), c["running_var_after"].get<std::vector<double>>(), 1e-5,
                 1e-6, name + " running_var");
  }
}

TANDEM_INSTANTIATE_GOLDEN_TEST(OpsSpatialGolden, tandem::testing::case_names(cases()));

class OpsSpatial : public tandem::testing::DeviceTest {};

TEST_P(OpsSpatial, GradcheckConvolutions) {
  const Device d = device();
  Tensor x = leaf({2, 4, 5, 4}, 1, d), w = leaf({6, 2, 3, 2}, 2, d), b = leaf({6}, 3, d);
  EXPECT_TRUE(gradcheck(
      [](const TensorList& t) {
        return conv2d(t[0], t[1], t[2], {2, 1}, {1, 1}, {1, 2}, 2);
      },
      {x, w, b}));
  Tensor wt = leaf({4, 3, 3, 3}, 4, d), bt = leaf({6}, 5, d);
  EXPECT_TRUE(gradcheck(
      [](const TensorList& t) {
        return conv_transpose2d(t[0], t[1], t[2], {2, 2}, {1, 0}, {1, 1}, 2, {1, 1});
      },
      {x, wt, bt}));
}

TEST_P(OpsSpatial, GradcheckPoolingNormUpsample) {
  const Device d = device();
  Tensor x = leaf({2, 3, 6, 5}, 6, d);
  EXPECT_TRUE(gradcheck(
      [](const TensorList& t) {
        return max_pool2d(t[0], {3, 2}, {2, 2}, {1, 1}, {1, 1}, true);
      },
      {x}));
  EXPECT_TRUE(gradcheck(
      [](const TensorList& t) {
        return avg_pool2d(t[0], {3, 3}, {2, 2}, {1, 1}, true, false);
      },
      {x}));
  EXPECT_TRUE(gradcheck(
      [](const TensorList& t) {
        return adaptive_avg_pool2d(t[0], {4, 3});
      },
      {x}));
  Tensor w = leaf({3}, 7, d), b = leaf({3}, 8, d);
  EXPECT_TRUE(gradcheck(
      [](const TensorList& t) { return batch_norm(t[0], {}, {}, t[1], t[2], true); }, {x, w, b}));
  Tensor rm = zeros({3}, TensorOptions(DType::Float64, d)),
         rv = ones({3}, TensorOptions(DType::Float64, d));
  EXPECT_TRUE(gradcheck(
      [&](const TensorList& t) { return batch_norm(t[0], rm, rv, t[1], t[2], false); }, {x, w, b}));
  EXPECT_TRUE(gradcheck(
      [](const TensorList& t) {
        return interpolate(t[0], Pair{9, 7}, {}, "bilinear");
      },
      {x}));
  EXPECT_TRUE(gradcheck(
      [](const TensorList& t) {
        return interpolate(t[0], Pair{9, 7}, {}, "bilinear", true);
      },
      {x}));
  EXPECT_TRUE(gradcheck(
      [](const TensorList& t) {
        return interpolate(t[0], {}, UpsampleScale{2, 2}, "nearest");
      },
      {x}));
}

TEST_P(OpsSpatial, DropoutScalesKeptElementsAndIsSeeded) {
  Generator g1(3), g2(3);
  const TensorOptions on(DType::Float32, device());
  Tensor x = ones({1000}, on).set_requires_grad(true);
  Tensor y = dropout(x, 0.25, true, g1);
  EXPECT_EQ(y.device(), device());
  const auto v = y.cpu().to_vector();
  int kept = 0;
  for (double e : v) {
    EXPECT_TRUE(e == 0.0 || std::abs(e - 1.0 / 0.75) < 1e-6);
    kept += e != 0;
  }
  EXPECT_NEAR(kept, 750, 60);
  // Same seed, same mask (on every device: the mask is drawn on the host).
  EXPECT_TRUE(equal(dropout(ones({1000}), 0.25, true, g2), y.detach().cpu()));
  y.sum().backward();
  EXPECT_EQ(x.grad().device(), device());
  EXPECT_TRUE(equal(x.grad().cpu(), y.detach().cpu()));  // grad = mask * scale
  EXPECT_TRUE(dropout(x, 0.5, false).is_same(x));
  EXPECT_EQ(dropout(x, 1.0, true).sum().item(), 0.0);
  try {
    dropout(x, 1.5, true);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "dropout probability has to be between 0 and 1, but got 1.5");
  }
}

TEST_P(OpsSpatial, ShapeErrorsNameShapes) {
  const TensorOptions on(DType::Float32, device());
  try {
    conv2d(zeros({1, 3, 8, 8}, on), zeros({4, 2, 3, 3}, on));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "expected input[1, 3, 8, 8] to have 2 channels, but got 3 channels instead"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(max_pool2d(zeros({1, 1, 2, 2}, on), {3, 3}), Error);
  EXPECT_THROW(batch_norm(zeros({1, 3}, on), {}, {}, {}, {}, true), Error);
  // Evaluation normalises with running statistics, so F.batch_norm needs them.
  try {
    batch_norm(zeros({2, 3}, on), {}, {}, {}, {}, false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "running_mean must be defined in evaluation mode");
  }
  // An empty input plane has no pixel to sample (PyTorch's message); the kernels would read
  // before the input.
  for (const char* mode : {"nearest", "bilinear"}) {
    try {
      interpolate(zeros({1, 1, 0, 5}, on), Pair{4, 4}, {}, mode);
      FAIL() << mode;
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(),
                   "Input and output sizes should be greater than 0, but got input (H: 0, W: 5) "
                   "output (H: 4, W: 4)");
    }
  }
}

// Two NaNs in one window: the gradient goes to the last, as in torch 1.13.
TEST_P(OpsSpatial, MaxPoolLastNanTakesTheGradient) {
  const double nan = std::nan("");
  Tensor x =
      from_vector(std::vector<double>{nan, 1, nan, 2}, {1, 1, 2, 2}).to(device()).requires_grad_();
  Tensor y = max_pool2d(x, {2, 2});
  EXPECT_TRUE(std::isnan(y.item()));
  y.sum().backward();
  EXPECT_EQ(x.grad().cpu().to_vector(), (std::vector<double>{0, 0, 1, 0}));
}

// PyTorch's max pooling rule (values checked with torch 1.13) on both paths (interior windows, and
// padded ones): a NaN in a window is the maximum; among equal maxima the first in the window gets
// the gradient.
TEST_P(OpsSpatial, MaxPoolNanAndTiesAsPyTorch) {
  const double nan = std::nan("");
  Tensor x = from_vector(std::vector<double>{1, 5, 5, 2, nan, 0, 3, 3, 7, 7, 1, 1, 0, 0, 9, nan},
                         {1, 1, 4, 4})
                 .to(device())
                 .requires_grad_();
  for (Pair pad : {Pair{0, 0}, Pair{1, 1}}) {
    Tensor y = max_pool2d(x, {2, 2}, {2, 2}, pad);
    const auto v = y.cpu().to_vector();
    if (pad == Pair{0, 0}) {
      ASSERT_EQ(v.size(), 4u);
      EXPECT_TRUE(std::isnan(v[0]));  // window {1, 5, nan, 0}
      EXPECT_EQ(v[1], 5);             // {5, 2, 3, 3}
      EXPECT_EQ(v[2], 7);             // {7, 7, 0, 0}: the first 7 gets the gradient
      EXPECT_TRUE(std::isnan(v[3]));  // {1, 1, 9, nan}
      x.set_grad(Tensor());
      y.sum().backward();
      EXPECT_EQ(x.grad().cpu().to_vector(),
                (std::vector<double>{0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1}));
    } else {
      // 3x3 windows over the padded 6x6; torch 1.13 gives [1, 5, 2, nan, 7, 3, 0, 9, nan].
      ASSERT_EQ(v.size(), 9u);
      const std::vector<double> want{1, 5, 2, nan, 7, 3, 0, 9, nan};
      for (size_t i = 0; i < 9; ++i) {
        if (std::isnan(want[i]))
          EXPECT_TRUE(std::isnan(v[i])) << i;
        else
          EXPECT_EQ(v[i], want[i]) << i;
      }
    }
  }
}

TANDEM_INSTANTIATE_DEVICE_TEST(OpsSpatial);
