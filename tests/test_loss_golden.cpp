// l1_loss, smooth_l1_loss, huber_loss, binary_cross_entropy, binary_cross_entropy_with_logits,
// kl_div and cross_entropy with class probabilities (and mse_loss's broadcasting) against
// PyTorch 1.13 (tests/fixtures/losses.json from make_losses.py): outputs and the gradients of
// input and target in float64 and float32 for every reduction and option, at the edges (ties at
// beta and delta, beta = 0, infinities, probabilities 0 and 1, logits +-100), on each device;
// gradients against finite differences; PyTorch's warnings and errors; the modules.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "framework/nn/nn.h"
#include "framework/ops/autocast.h"
#include "framework/ops/ops.h"
#include "tests/device_test.h"
#include "tests/error_text.h"
#include "tests/golden_cases.h"
#include "tests/gradcheck.h"

using namespace tandem;
using autograd::TensorList;
using nlohmann::json;
using tandem::testing::error_text;
using tandem::testing::gradcheck;
using tandem::testing::leaf;

namespace {

const json& fixture() {
  static const json f = tandem::testing::load_fixture("losses.json");
  return f;
}
const json& cases() {
  static const json c = fixture().is_object() ? fixture()["cases"] : json::array();
  return c;
}

Shape shape_of(const json& t) {
  const auto dims = t["shape"].get<std::vector<int64_t>>();
  return Shape(dims.begin(), dims.end());
}

// A fixture tensor ({"shape", "values"}) on `device` in `dtype`; undefined for null.
Tensor tensor_of(const json& t, Device device, DType dtype) {
  if (t.is_null()) return {};
  return from_vector(tandem::testing::fixture_numbers(t["values"]), shape_of(t),
                     TensorOptions(DType::Float64))
      .to(device, dtype);
}

// The fixture's call, as make_losses.py makes it.
Tensor call(const json& c, const Tensor& x, const Tensor& t, const Tensor& w, const Tensor& pw) {
  const std::string f = c["function"];
  const std::string red = c["reduction"];
  if (f == "kl_div") return kl_div(x, t, red, c.value("log_target", false));
  const Reduction r = reduction_from_string(red);
  if (f == "mse") return mse_loss(x, t, r);
  if (f == "l1") return l1_loss(x, t, r);
  if (f == "smooth_l1") return smooth_l1_loss(x, t, r, c["beta"].get<double>());
  if (f == "huber") return huber_loss(x, t, r, c["delta"].get<double>());
  if (f == "bce") return binary_cross_entropy(x, t, w, r);
  if (f == "bce_logits") return binary_cross_entropy_with_logits(x, t, w, r, pw);
  if (f == "ce_probs") return cross_entropy(x, t, w, r, -100, c.value("label_smoothing", 0.0));
  throw std::runtime_error("unknown loss " + f);
}

class LossGolden : public tandem::testing::GoldenCaseTest {};
class LossOnDevice : public tandem::testing::DeviceTest {};

}  // namespace

TEST(LossGoldenFixture, HasCases) {
  ASSERT_TRUE(fixture().is_object()) << "tests/fixtures/losses.json is missing or unreadable";
  EXPECT_EQ(cases().size(), 162u);
}

TEST_P(LossGolden, MatchesPyTorch) {
  const json& c = cases()[case_index()];
  const std::string name = c["name"];
  const DType dtype = c["dtype"] == "float32" ? DType::Float32 : DType::Float64;
  Tensor x = tensor_of(c["input"], device(), dtype).set_requires_grad(true);
  Tensor t = tensor_of(c["target"], device(), dtype).set_requires_grad(true);
  const Tensor w = tensor_of(c.value("weight", json()), device(), dtype);
  const Tensor pw = tensor_of(c.value("pos_weight", json()), device(), dtype);
  Tensor out = call(c, x, t, w, pw);
  EXPECT_EQ(out.dtype(), dtype) << name;
  EXPECT_EQ(out.device(), device()) << name;
  EXPECT_EQ(out.sizes(), shape_of(c["out"])) << name;
  (out * tensor_of(c["v"], device(), dtype)).sum().backward();
  // float64: the same formulas to rounding (reductions sum in another order); float32: a few
  // ulps of the largest term.
  const double rtol = dtype == DType::Float64 ? 1e-13 : 2e-6;
  const double atol = dtype == DType::Float64 ? 1e-15 : 1e-7;
  auto expect_close = [&](const Tensor& got_t, const json& want_j, const char* what) {
    ASSERT_TRUE(got_t.defined()) << name << ": no " << what;
    const std::vector<double> got = got_t.detach().cpu().to(DType::Float64).to_vector();
    const std::vector<double> want = tandem::testing::fixture_numbers(want_j["values"]);
    ASSERT_EQ(got.size(), want.size()) << name << " " << what;
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(want[i]))
        EXPECT_TRUE(std::isnan(got[i])) << name << " " << what << "[" << i << "] = " << got[i];
      else if (std::isinf(want[i]))
        EXPECT_EQ(got[i], want[i]) << name << " " << what << "[" << i << "]";
      else
        EXPECT_NEAR(got[i], want[i], atol + rtol * std::abs(want[i]))
            << name << " " << what << "[" << i << "]";
    }
  };
  expect_close(out, c["out"], "output");
  expect_close(x.grad(), c["grad_input"], "input gradient");
  expect_close(t.grad(), c["grad_target"], "target gradient");
}
TANDEM_INSTANTIATE_GOLDEN_TEST(LossGolden, tandem::testing::case_names(cases()));

TEST_P(LossOnDevice, GradientsMatchFiniteDifferences) {
  // Random points, away from the kinks (d = 0 for l1; smooth_l1 and huber are smooth at beta and
  // delta); probabilities through sigmoid/softmax, log-probabilities through log_softmax.
  const std::map<std::string, std::function<Tensor(const TensorList&)>> losses = {
      {"l1", [](const TensorList& v) { return l1_loss(v[0], v[1]); }},
      {"l1_none", [](const TensorList& v) { return l1_loss(v[0], v[1], Reduction::None); }},
      {"smooth_l1", [](const TensorList& v) { return smooth_l1_loss(v[0], v[1]); }},
      {"smooth_l1_sum",
       [](const TensorList& v) { return smooth_l1_loss(v[0], v[1], Reduction::Sum, 0.4); }},
      {"huber", [](const TensorList& v) { return huber_loss(v[0], v[1], Reduction::Mean, 0.7); }},
      {"huber_none", [](const TensorList& v) { return huber_loss(v[0], v[1], Reduction::None); }},
      {"bce",
       [](const TensorList& v) { return binary_cross_entropy(sigmoid(v[0]), sigmoid(v[1])); }},
      {"bce_logits",
       [](const TensorList& v) { return binary_cross_entropy_with_logits(v[0], sigmoid(v[1])); }},
      {"bce_logits_pos",
       [](const TensorList& v) {
         const Tensor pw = full({7}, 2.5, v[0].options());
         const Tensor w = full({3, 1}, 0.5, v[0].options());
         return binary_cross_entropy_with_logits(v[0], sigmoid(v[1]), w, Reduction::Sum, pw);
       }},
      {"kl_div",
       [](const TensorList& v) {
         return kl_div(log_softmax(v[0], 1), softmax(v[1], 1), "batchmean");
       }},
      {"kl_div_log_target",
       [](const TensorList& v) {
         return kl_div(log_softmax(v[0], 1), log_softmax(v[1], 1), "sum", true);
       }},
      {"ce_probs",
       [](const TensorList& v) {
         return cross_entropy(v[0], softmax(v[1], 1), {}, Reduction::Mean, -100, 0.2);
       }},
  };
  for (const auto& [name, fn] : losses) {
    Tensor x = leaf({3, 7}, 11, 2.0, device());
    Tensor t = leaf({3, 7}, 12, 2.0, device());
    EXPECT_TRUE(gradcheck(fn, {x, t})) << name;
  }
}

TEST_P(LossOnDevice, BroadcastGradientsSumToEachShape) {
  Tensor x = leaf({3, 1}, 1, device());
  Tensor t = leaf({1, 4}, 2, device());
  EXPECT_TRUE(gradcheck([](const TensorList& v) { return smooth_l1_loss(v[0], v[1]); }, {x, t}));
  EXPECT_TRUE(gradcheck([](const TensorList& v) { return huber_loss(v[0], v[1]); }, {x, t}));
  EXPECT_EQ(x.grad().sizes(), (Shape{3, 1}));
  EXPECT_EQ(t.grad().sizes(), (Shape{1, 4}));
}

TEST_P(LossOnDevice, ATargetWithoutGradGetsNone) {
  // The losses with their own backward skip the target's formula; the input's is unchanged.
  const std::vector<std::function<Tensor(const Tensor&, const Tensor&)>> losses = {
      [](const Tensor& x, const Tensor& t) { return smooth_l1_loss(x, t); },
      [](const Tensor& x, const Tensor& t) { return huber_loss(x, t, Reduction::Sum); },
      [](const Tensor& x, const Tensor& t) { return binary_cross_entropy(sigmoid(x), t); },
      [](const Tensor& x, const Tensor& t) { return binary_cross_entropy_with_logits(x, t); },
  };
  for (size_t i = 0; i < losses.size(); ++i) {
    Tensor x = leaf({2, 3}, 5, device());
    Tensor t = sigmoid(leaf({2, 3}, 6, device()).detach());
    losses[i](x, t).backward();
    const std::vector<double> alone = x.grad().cpu().to_vector();
    x.set_grad(Tensor());
    t.set_requires_grad(true);
    losses[i](x, t).backward();
    EXPECT_EQ(x.grad().cpu().to_vector(), alone) << i;
    EXPECT_TRUE(t.grad().defined()) << i;
  }
}

TEST_P(LossOnDevice, LossesRunInFloatUnderAutocast) {
  const DType lower = device().is_cpu() ? DType::BFloat16 : DType::Float16;
  Tensor x = full({2, 3}, 0.25, TensorOptions(lower).with_device(device()));
  const autocast::AutocastGuard amp(device().type, lower);
  EXPECT_EQ(l1_loss(x, x).dtype(), DType::Float32);
  EXPECT_EQ(smooth_l1_loss(x, x).dtype(), DType::Float32);
  EXPECT_EQ(huber_loss(x, x).dtype(), DType::Float32);
  EXPECT_EQ(binary_cross_entropy_with_logits(x, x).dtype(), DType::Float32);
  EXPECT_EQ(kl_div(x, x, "sum").dtype(), DType::Float32);
  EXPECT_EQ(cross_entropy(x, x).dtype(), DType::Float32);
  if (device().is_cpu()) {
    EXPECT_EQ(binary_cross_entropy(x, x).dtype(), DType::Float32);
  } else {
    // PyTorch refuses it under CUDA autocast: the logits form is the safe one.
    EXPECT_TRUE(tandem::testing::throws_with([&] { binary_cross_entropy(x, x); },
                                             "are unsafe to autocast"));
  }
}
TANDEM_INSTANTIATE_DEVICE_TEST(LossOnDevice);

TEST(LossErrors, AreTorchs) {
  const json& e = fixture()["errors"];
  const Tensor z23 = zeros({2, 3}), z3 = zeros({3}), h23 = full({2, 3}, 0.5);
  const Tensor i2 = from_vector(std::vector<int64_t>{1, 2}, {2}, TensorOptions(DType::Int64));
  const std::map<std::string, std::function<void()>> calls = {
      {"l1_bad_reduction", [&] { nn::L1Loss("batchmean"); }},
      {"smooth_l1_negative_beta", [&] { smooth_l1_loss(z3, z3, Reduction::Mean, -1.0); }},
      {"smooth_l1_long", [&] { smooth_l1_loss(i2, i2); }},
      {"huber_zero_delta", [&] { huber_loss(z3, z3, Reduction::Mean, 0.0); }},
      {"huber_long", [&] { huber_loss(i2, i2); }},
      {"bce_size", [&] { binary_cross_entropy(h23, full({3}, 0.5)); }},
      {"bce_above_1",
       [&] {
         binary_cross_entropy(tensor({0.5, 1.5}), zeros({2}));
       }},
      {"bce_below_0",
       [&] {
         binary_cross_entropy(tensor({-0.5, 0.5}), zeros({2}));
       }},
      {"bce_nan", [&] { binary_cross_entropy(tensor({std::nan("")}), zeros({1})); }},
      {"bce_long", [&] { binary_cross_entropy(i2, i2); }},
      {"bce_target_long", [&] { binary_cross_entropy(zeros({2}), i2); }},
      {"bce_target_double",
       [&] { binary_cross_entropy(zeros({2}), zeros({2}, TensorOptions(DType::Float64))); }},
      {"bce_weight_too_big",
       [&] {
         binary_cross_entropy(full({3}, 0.5), full({3}, 0.5), ones({2, 3}));
       }},
      {"bce_logits_size", [&] { binary_cross_entropy_with_logits(zeros({2}), z3); }},
      {"bce_logits_long", [&] { binary_cross_entropy_with_logits(zeros({2}), i2); }},
      {"bce_logits_weight_too_big",
       [&] {
         binary_cross_entropy_with_logits(z3, z3, ones({2, 3}), Reduction::None);
       }},
      {"kl_div_long", [&] { kl_div(i2, i2, "sum"); }},
      {"kl_div_bad_reduction", [&] { kl_div(z3, z3, "avg"); }},
      {"ce_probs_long",
       [&] {
         cross_entropy(z23, zeros({2, 3}, TensorOptions(DType::Int64)));
       }},
      {"ce_probs_ignore_index", [&] { cross_entropy(z23, z23, {}, Reduction::Mean, 1); }},
      {"ce_probs_weight", [&] { cross_entropy(z23, z23, ones({2})); }},
      {"ce_probs_smoothing", [&] { cross_entropy(z23, z23, {}, Reduction::Mean, -100, 1.5); }},
  };
  for (const auto& [name, fn] : calls)
    EXPECT_EQ(error_text(fn), e[name].get<std::string>()) << name;
  // Broadcasting errors: PyTorch's text, then the two shapes.
  const std::map<std::string, std::function<void()>> broadcasts = {
      {"l1_not_broadcastable", [&] { l1_loss(z23, zeros({2})); }},
      {"bce_weight_not_broadcastable", [&] { binary_cross_entropy(h23, h23, ones({2})); }},
      {"bce_logits_pos_weight",
       [&] { binary_cross_entropy_with_logits(z23, z23, {}, Reduction::Mean, ones({2})); }},
  };
  for (const auto& [name, fn] : broadcasts)
    EXPECT_TRUE(tandem::testing::throws_with(fn, e[name].get<std::string>() + " (shapes")) << name;
}

// PyTorch warns once per place; tandem once per text. (ctest runs each test in a process of its
// own, and a whole binary runs the plain tests before the golden ones, which warn too.)
TEST(LossWarnings, AreTorchsAndPrintedOnce) {
  const json& w = fixture()["warnings"];
  ::testing::internal::CaptureStderr();
  l1_loss(zeros({2, 3}), zeros({3}));
  smooth_l1_loss(zeros({2, 3}), zeros({3}));
  huber_loss(zeros({2, 3}), zeros({3}));
  mse_loss(zeros({2, 3}), zeros({3}));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "warning: " + w["broadcast"].get<std::string>() + "\n");
  ::testing::internal::CaptureStderr();
  kl_div(zeros({3}), zeros({3}));
  nn::KLDivLoss()(zeros({3}), zeros({3}));
  kl_div(zeros({3}), zeros({3}), "batchmean");
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "warning: " + w["kl_div_mean"].get<std::string>() + "\n");
  // Same sizes, or kl_div's own broadcasting: no warning.
  ::testing::internal::CaptureStderr();
  l1_loss(zeros({4}), zeros({4}));
  kl_div(zeros({2, 5}), zeros({5}), "sum");
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST(LossModules, ReprsBuffersAndCalls) {
  using namespace tandem::nn;
  const json& r = fixture()["reprs"];
  EXPECT_EQ(L1Loss().repr(), r["l1"].get<std::string>());
  EXPECT_EQ(SmoothL1Loss({"mean", 0.5}).repr(), r["smooth_l1"].get<std::string>());
  EXPECT_EQ(HuberLoss({"mean", 2.0}).repr(), r["huber"].get<std::string>());
  EXPECT_EQ(BCELoss({ones({2})}).repr(), r["bce"].get<std::string>());
  EXPECT_EQ(BCEWithLogitsLoss().repr(), r["bce_logits"].get<std::string>());
  EXPECT_EQ(KLDivLoss({"batchmean", true}).repr(), r["kl_div"].get<std::string>());
  const json& b = fixture()["buffers"];
  EXPECT_EQ(BCELoss({ones({2})}).state_dict().keys(), b["bce"].get<std::vector<std::string>>());
  EXPECT_EQ(BCEWithLogitsLoss({ones({2}), "mean", ones({2})}).state_dict().keys(),
            b["bce_logits"].get<std::vector<std::string>>());

  Generator gen(3);
  const Tensor x = randn({4, 2}, gen), t = rand({4, 2}, gen), p = sigmoid(randn({4, 2}, gen));
  auto same = [](const Tensor& a, const Tensor& b) { return equal(a, b); };
  EXPECT_TRUE(same(L1Loss("sum")(x, t), l1_loss(x, t, Reduction::Sum)));
  EXPECT_TRUE(same(SmoothL1Loss({"none", 0.3})(x, t), smooth_l1_loss(x, t, Reduction::None, 0.3)));
  EXPECT_TRUE(same(HuberLoss({"sum", 0.3})(x, t), huber_loss(x, t, Reduction::Sum, 0.3)));
  const Tensor w = tensor({0.5, 2.0});
  EXPECT_TRUE(same(BCELoss({w, "sum"})(p, t), binary_cross_entropy(p, t, w, Reduction::Sum)));
  EXPECT_TRUE(same(BCEWithLogitsLoss({{}, "mean", w})(x, t),
                   binary_cross_entropy_with_logits(x, t, {}, Reduction::Mean, w)));
  const Tensor lp = log_softmax(x, 1);
  EXPECT_TRUE(same(KLDivLoss({"batchmean"})(lp, t), kl_div(lp, t, "batchmean")));
  EXPECT_TRUE(same(KLDivLoss({"sum", true})(lp, lp), kl_div(lp, lp, "sum", true)));
  EXPECT_TRUE(same(KLDivLoss({"sum"}).forward_many({lp, t})[0], kl_div(lp, t, "sum")));
  // batchmean is kl_div's alone.
  EXPECT_THROW(KLDivLoss({"avg"}), Error);
  EXPECT_THROW(SmoothL1Loss({"batchmean"}), Error);
}
