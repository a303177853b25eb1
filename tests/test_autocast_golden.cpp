// Autocast against PyTorch 1.13's torch.autocast("cpu", torch.bfloat16)
// (tests/fixtures/autocast.json from make_autocast.py):
//   - per op class, the output dtype and the inputs' gradient dtypes are PyTorch's, and the
//     values agree within bfloat16 tolerance (matrix products and convolutions: PyTorch 1.13's
//     CPU bfloat16 fallback accumulates in another order than tandem's float staging);
//   - a conv-bn-relu-pool CNN's forward under autocast and backward outside it, from the same
//     weights: bfloat16 logits, float32 loss, float32 parameter gradients (master weights) and
//     running statistics, within bfloat16 tolerance of PyTorch's; on cpu and on the emulated
//     CUDA device (whose policy treats every op of this network as the CPU's does).
// Also: the policy table, regions, the cast cache and the refusal of float16 on the CPU.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "framework/autograd/grad_mode.h"
#include "framework/nn/nn.h"
#include "framework/ops/autocast.h"
#include "framework/ops/ops.h"
#include "tests/golden_cases.h"

using namespace tandem;
using autocast::AutocastGuard;
using nlohmann::json;
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

namespace {

const std::map<std::string, Fn>& ops() {
  static const std::map<std::string, Fn> m = {
      {"linear", [](const auto& x) { return linear(x[0], x[1], x[2]); }},
      {"linear_bf16_input", [](const auto& x) { return linear(x[0], x[1], x[2]); }},
      {"matmul", [](const auto& x) { return matmul(x[0], x[1]); }},
      {"mm", [](const auto& x) { return mm(x[0], x[1]); }},
      {"matmul_float64", [](const auto& x) { return matmul(x[0], x[1]); }},
      {"conv2d",
       [](const auto& x) {
         return conv2d(x[0], x[1], x[2], {1, 1}, {1, 1});
       }},
      {"conv_transpose2d",
       [](const auto& x) {
         return conv_transpose2d(x[0], x[1], {}, {2, 2});
       }},
      {"relu_bf16", [](const auto& x) { return relu(x[0]); }},
      {"relu_float32", [](const auto& x) { return relu(x[0]); }},
      {"softmax_bf16", [](const auto& x) { return softmax(x[0], 1); }},
      {"log_softmax_bf16", [](const auto& x) { return log_softmax(x[0], 1); }},
      {"cross_entropy_bf16", [](const auto& x) { return cross_entropy(x[0], x[1]); }},
      {"nll_loss_bf16", [](const auto& x) { return nll_loss(x[0], x[1]); }},
      {"mse_loss_mixed", [](const auto& x) { return mse_loss(x[0], x[1]); }},
      {"batch_norm_bf16",
       [](const auto& x) { return batch_norm(x[0], {}, {}, x[1], x[2], true, 0.1, 1e-5); }},
      {"max_pool2d_bf16",
       [](const auto& x) {
         return max_pool2d(x[0], {2, 2});
       }},
      {"avg_pool2d_bf16",
       [](const auto& x) {
         return avg_pool2d(x[0], {2, 2});
       }},
      {"adaptive_avg_pool2d_bf16",
       [](const auto& x) {
         return adaptive_avg_pool2d(x[0], {1, 1});
       }},
      {"upsample_nearest_bf16",
       [](const auto& x) {
         return interpolate(x[0], std::nullopt, UpsampleScale{2, 2}, "nearest");
       }},
      {"upsample_bilinear_bf16",
       [](const auto& x) {
         return interpolate(x[0], std::nullopt, UpsampleScale{2, 2}, "bilinear");
       }},
      {"sum_bf16", [](const auto& x) { return x[0].sum({1}); }},
      {"mean_bf16", [](const auto& x) { return x[0].mean({0}); }},
      {"exp_bf16", [](const auto& x) { return exp(x[0]); }},
      {"add_mixed", [](const auto& x) { return x[0] + x[1]; }},
      {"mul_mixed", [](const auto& x) { return x[0] * x[1]; }},
      {"cat_mixed",
       [](const auto& x) {
         return cat({x[0], x[1]});
       }},
      {"stack_mixed",
       [](const auto& x) {
         return stack({x[0], x[1]});
       }},
  };
  return m;
}

const json& fixture() {
  static const json f = tandem::testing::load_fixture("autocast.json");
  return f;
}

const json& cases() {
  static const json c = fixture().is_object() ? fixture()["cases"] : json::array();
  return c;
}

std::vector<double> values(const Tensor& t) { return t.cpu().to(DType::Float64).to_vector(); }

// Every element within `rel` of the largest magnitude in `want` (bfloat16 keeps 8 bits: its
// unit in the last place is 2^-7 of the magnitude at most).
void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rel,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 0;
  for (double w : want) scale = std::max(scale, std::abs(w));
  const double tol = rel * scale + 1e-6;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol) << what << " element " << i;
}

constexpr double kBf16 = 1.0 / 128;  // one bfloat16 unit in the last place, relative

}  // namespace

TEST(AutocastPolicy, IsPyTorchsPerDeviceType) {
  using autocast::Cast;
  using autocast::OpClass;
  using autocast::policy;
  for (DeviceType d : {DeviceType::CPU, DeviceType::CUDA}) {
    EXPECT_EQ(policy(d, OpClass::Matmul), Cast::LowerPrecision);
    EXPECT_EQ(policy(d, OpClass::Conv), Cast::LowerPrecision);
    EXPECT_EQ(policy(d, OpClass::Loss), Cast::Float32);
  }
  // PyTorch 1.13's CPU list keeps conv_transpose in float32 and softmax, sums and
  // transcendental functions in their input type; CUDA's runs them in float32.
  EXPECT_EQ(policy(DeviceType::CPU, OpClass::ConvTranspose), Cast::Float32);
  EXPECT_EQ(policy(DeviceType::CUDA, OpClass::ConvTranspose), Cast::LowerPrecision);
  for (OpClass op : {OpClass::Softmax, OpClass::Reduction, OpClass::Transcendental}) {
    EXPECT_EQ(policy(DeviceType::CPU, op), Cast::Keep);
    EXPECT_EQ(policy(DeviceType::CUDA, op), Cast::Float32);
  }
}

TEST(AutocastRegion, RefusesFloat16OnTheCpuAsPyTorch) {
  try {
    AutocastGuard amp(DeviceType::CPU, DType::Float16);
    FAIL() << "float16 autocast on the CPU was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("AutocastCPU only support Bfloat16"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(autocast::is_enabled(DeviceType::CPU));
  AutocastGuard off(DeviceType::CPU, DType::Float16, /*enabled=*/false);  // disabled: no check
  EXPECT_FALSE(autocast::active());
}

TEST(AutocastRegion, NestsAndRestoresAndOnlyCastsItsDevice) {
  const Tensor a = ones({2, 3}), b = ones({3, 2});
  {
    AutocastGuard amp(DeviceType::CPU, DType::BFloat16);
    EXPECT_TRUE(autocast::active());
    EXPECT_EQ(mm(a, b).dtype(), DType::BFloat16);
    {
      AutocastGuard inner(DeviceType::CPU, DType::BFloat16, /*enabled=*/false);
      EXPECT_EQ(mm(a, b).dtype(), DType::Float32);
    }
    {
      autocast::Suspend nested;
      EXPECT_EQ(mm(a, b).dtype(), DType::Float32);
    }
    EXPECT_EQ(mm(a, b).dtype(), DType::BFloat16);
    AutocastGuard cuda(DeviceType::CUDA, DType::Float16);  // a CUDA region leaves CPU ops alone
    EXPECT_EQ(mm(a, b).dtype(), DType::BFloat16);
  }
  EXPECT_FALSE(autocast::active());
  EXPECT_EQ(mm(a, b).dtype(), DType::Float32);
}

TEST(AutocastRegion, CastsAParameterOncePerRegionAndItsGradientStaysFloat32) {
  Tensor w = (ones({3, 3}) * 0.5).set_requires_grad(true);
  const Tensor x = ones({2, 3});
  Tensor y1, y2;
  {
    AutocastGuard amp(DeviceType::CPU, DType::BFloat16);
    y1 = mm(x, w);
    y2 = mm(x + 1, w);  // the cached bfloat16 copy of w: one ToCopy node, as PyTorch's cache
    EXPECT_EQ(y1.dtype(), DType::BFloat16);
  }
  (y1.to(DType::Float32).sum() + y2.to(DType::Float32).sum()).backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().dtype(), DType::Float32);
  for (double g : values(w.grad())) EXPECT_EQ(g, 6.0);  // 2 + 4 per element
}

class AutocastGolden : public tandem::testing::GoldenCaseTest {};

TEST(AutocastGoldenFixture, CoversEveryOp) {
  ASSERT_TRUE(fixture().is_object()) << "fixture autocast.json";
  EXPECT_EQ(cases().size(), ops().size());
}

TEST_P(AutocastGolden, DtypesAndValuesMatchPyTorch) {
  const json& c = cases()[case_index()];
  const std::string name = c["name"];
  ASSERT_TRUE(ops().count(name)) << "no op for case " << name;
  std::vector<Tensor> in;
  for (size_t i = 0; i < c["inputs"].size(); ++i) {
    const DType dt = dtype_from_name(c["in_dtypes"][i].get<std::string>());
    Tensor t = from_vector(c["inputs"][i].get<std::vector<double>>(), c["shapes"][i].get<Shape>())
                   .to(dt)
                   .to(device());
    in.push_back(is_floating(dt) ? t.set_requires_grad(true) : t);
  }
  Tensor out;
  {
    AutocastGuard amp(DeviceType::CPU, DType::BFloat16);
    out = ops().at(name)(in);
  }
  ASSERT_EQ(out.sizes(), c["out_shape"].get<Shape>());
  EXPECT_EQ(std::string(dtype_name(out.dtype())), c["out_dtype"].get<std::string>());
  expect_close(values(out), c["out"].get<std::vector<double>>(), 2 * kBf16, "output");
  const Tensor v = from_vector(c["v"].get<std::vector<double>>(), out.sizes()).to(device());
  (out.to(DType::Float32) * v).sum().backward();
  for (size_t k = 0; k < in.size(); ++k) {
    if (c["grads"][k].is_null()) continue;
    ASSERT_TRUE(in[k].grad().defined()) << "input " << k << " got no gradient";
    EXPECT_EQ(std::string(dtype_name(in[k].grad().dtype())), c["grad_dtypes"][k].get<std::string>())
        << "input " << k;
    expect_close(values(in[k].grad()), c["grads"][k].get<std::vector<double>>(), 4 * kBf16,
                 "gradient of input " + std::to_string(k));
  }
}

// The CPU only: the fixture records PyTorch's CPU policy (AutocastCuda below checks the CUDA one).
std::vector<tandem::testing::GoldenCase> cpu_cases() {
  std::vector<tandem::testing::GoldenCase> out;
  for (const auto& c : tandem::testing::golden_cases(tandem::testing::case_names(cases())))
    if (c.device.is_cpu()) out.push_back(c);
  return out;
}
INSTANTIATE_TEST_SUITE_P(, AutocastGolden, ::testing::ValuesIn(cpu_cases()),
                         [](const ::testing::TestParamInfo<tandem::testing::GoldenCase>& info) {
                           return info.param.name;
                         });

namespace {

// make_autocast.py's SmallCnn.
class SmallCnn : public nn::Module {
 public:
  SmallCnn() : Module("SmallCnn") {
    features = register_module("features", std::make_shared<nn::Sequential>());
    features->push_back(std::make_shared<nn::Conv2d>(1, 4, 3, 1, 1));
    features->push_back(std::make_shared<nn::BatchNorm2d>(4));
    features->push_back(std::make_shared<nn::ReLU>());
    features->push_back(std::make_shared<nn::MaxPool2d>(2));
    features->push_back(std::make_shared<nn::Conv2d>(4, 8, 3, 1, 1));
    features->push_back(std::make_shared<nn::ReLU>());
    features->push_back(std::make_shared<nn::MaxPool2d>(2));
    classifier = register_module("classifier", std::make_shared<nn::Sequential>());
    classifier->push_back(std::make_shared<nn::Flatten>());
    classifier->push_back(std::make_shared<nn::Linear>(72, 16));
    classifier->push_back(std::make_shared<nn::ReLU>());
    classifier->push_back(std::make_shared<nn::Linear>(16, 10));
  }
  Tensor forward(const Tensor& x) override { return classifier->forward(features->forward(x)); }
  std::shared_ptr<nn::Sequential> features, classifier;
};

class AutocastCnn : public tandem::testing::DeviceTest {};

}  // namespace

TEST_P(AutocastCnn, Bfloat16ForwardAndBackwardMatchPyTorch) {
  ASSERT_TRUE(fixture().is_object()) << "fixture autocast.json";
  const json& f = fixture()["cnn"];
  SmallCnn model;
  {
    NoGradGuard no_grad;
    for (const auto& [key, entry] : f["state"].items()) {
      Tensor t = model.state_dict().at(key);
      t.copy_(from_vector(entry["values"].get<std::vector<double>>(), entry["shape"].get<Shape>())
                  .to(t.dtype()));
    }
  }
  model.to(device());
  const Tensor x = from_vector(f["input"].get<std::vector<double>>(), f["input_shape"].get<Shape>())
                       .to(device());
  const Tensor y =
      from_vector(f["target"].get<std::vector<int64_t>>(), {int64_t(f["target"].size())})
          .to(device());
  Tensor logits, loss;
  {
    AutocastGuard amp(device().type, DType::BFloat16);
    logits = model.forward(x);
    loss = cross_entropy(logits, y);
  }
  loss.backward();
  const json& want = f["bf16"];
  EXPECT_EQ(std::string(dtype_name(logits.dtype())), want["logits_dtype"].get<std::string>());
  EXPECT_EQ(std::string(dtype_name(loss.dtype())), want["loss_dtype"].get<std::string>());
  expect_close(values(logits), want["logits"].get<std::vector<double>>(), 2 * kBf16, "logits");
  EXPECT_NEAR(loss.item(), want["loss"].get<double>(), 2 * kBf16 * want["loss"].get<double>());
  for (const auto& [name, p] : model.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_EQ(std::string(dtype_name(p.grad().dtype())),
              want["grad_dtypes"][name].get<std::string>())
        << name;
    // Within bfloat16 tolerance: a few units in the last place of the largest gradient, plus
    // twice PyTorch's own bfloat16 error against its float32 run (the bias of a convolution
    // followed by BatchNorm has a true gradient of 0: what both libraries get is rounding noise).
    const auto wg = want["grads"][name].get<std::vector<double>>();
    const auto fp32 = f["fp32"]["grads"][name].get<std::vector<double>>();
    double own_error = 0;
    for (size_t i = 0; i < wg.size(); ++i)
      own_error = std::max(own_error, std::abs(wg[i] - fp32[i]));
    const auto g = values(p.grad());
    ASSERT_EQ(g.size(), wg.size()) << name;
    double scale = 0;
    for (double w : wg) scale = std::max(scale, std::abs(w));
    for (size_t i = 0; i < g.size(); ++i)
      ASSERT_NEAR(g[i], wg[i], 4 * kBf16 * scale + 2 * own_error) << name << " element " << i;
  }
  for (const auto& [name, b] : model.named_buffers()) {
    if (!want["buffers"].contains(name)) continue;
    EXPECT_EQ(b.dtype(), DType::Float32) << name;
    expect_close(values(b), want["buffers"][name].get<std::vector<double>>(), 2 * kBf16, name);
  }
}

TANDEM_INSTANTIATE_DEVICE_TEST(AutocastCnn);

namespace {
class AutocastCuda : public tandem::testing::DeviceTest {
 protected:
  void SetUp() override {
    if (device().is_cpu()) GTEST_SKIP() << "the CUDA policy";
    DeviceTest::SetUp();
  }
};
}  // namespace

// PyTorch's CUDA lists (autocast_policy.cpp), in float16 on a CUDA device: the float32 classes
// come out float32, conv_transpose and the matrix products float16; values within float16
// tolerance of the float32 results.
TEST_P(AutocastCuda, Float16FollowsTheCudaLists) {
  Generator gen(7);
  const Tensor x = randn({4, 6}, gen).to(device()), w = randn({6, 5}, gen).to(device());
  const Tensor img = randn({1, 3, 4, 4}, gen).to(device()),
               wt = (randn({3, 2, 3, 3}, gen) * 0.3).to(device());
  const Tensor target = from_vector(std::vector<int64_t>{0, 2, 1, 5}, {4}).to(device());
  const Tensor xh = x.to(DType::Float16);
  using Op = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<std::string, Op>> float32_ops = {
      {"softmax", [](const Tensor& t) { return softmax(t, 1); }},
      {"log_softmax", [](const Tensor& t) { return log_softmax(t, 1); }},
      {"sum", [](const Tensor& t) { return t.sum({1}); }},
      {"exp", [](const Tensor& t) { return exp(t); }},
      {"cross_entropy", [&](const Tensor& t) { return cross_entropy(t, target); }}};
  const std::vector<std::pair<std::string, std::function<Tensor()>>> float16_ops = {
      {"mm", [&] { return mm(x, w); }}, {"conv_transpose2d", [&] {
                                           return conv_transpose2d(img, wt, {}, {2, 2});
                                         }}};
  for (const auto& [name, fn] : float32_ops) {
    const Tensor reference = fn(xh.to(DType::Float32));  // the same values in float32
    AutocastGuard amp(DeviceType::CUDA, DType::Float16);
    const Tensor out = fn(xh);
    EXPECT_EQ(out.dtype(), DType::Float32) << name;
    expect_close(values(out), values(reference), 2.0 / 1024, name);
  }
  for (const auto& [name, fn] : float16_ops) {
    const Tensor reference = fn();  // float32
    AutocastGuard amp(DeviceType::CUDA, DType::Float16);
    const Tensor out = fn();
    EXPECT_EQ(out.dtype(), DType::Float16) << name;
    expect_close(values(out), values(reference), 4.0 / 1024, name);
  }
}

TANDEM_INSTANTIATE_DEVICE_TEST(AutocastCuda);
