// prelu and nn::PReLU against PyTorch 1.13 (tests/fixtures/prelu.json from make_prelu.py):
// outputs and the gradients of input and weight (a shared slope, one per channel, a 0-d weight,
// 1-D to 4-D input, zeros and NaN) in float32 and float64 on each device; gradients against
// finite differences; the module's init, repr and key; PyTorch's errors; the YAML layer.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "framework/nn/models/builder.h"
#include "framework/nn/nn.h"
#include "framework/ops/ops.h"
#include "launch/config.h"
#include "tests/device_test.h"
#include "tests/error_text.h"
#include "tests/golden_cases.h"
#include "tests/gradcheck.h"

using namespace tandem;
using autograd::TensorList;
using nlohmann::json;
using tandem::testing::error_text;
using tandem::testing::fixture_numbers;
using tandem::testing::gradcheck;

namespace {

const json& fixture() {
  static const json f = tandem::testing::load_fixture("prelu.json");
  return f;
}
const json& section(const char* key) { return tandem::testing::fixture_section(fixture(), key); }
const json& cases() { return section("cases"); }

Tensor tensor_of(const json& t, Device device, DType dtype) {
  return from_vector(fixture_numbers(t["values"]), t["shape"].get<Shape>(),
                     TensorOptions(DType::Float64))
      .to(device, dtype);
}

// NaN where PyTorch has NaN; else within rounding (the weight's gradient sums in another order).
void expect_close(const Tensor& got_t, const json& want_j, DType dtype, const std::string& what) {
  ASSERT_TRUE(got_t.defined()) << what;
  const std::vector<double> got = got_t.detach().cpu().to(DType::Float64).to_vector();
  const std::vector<double> want = fixture_numbers(want_j);
  ASSERT_EQ(got.size(), want.size()) << what;
  const double tol = dtype == DType::Float64 ? 1e-13 : 2e-6;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i]))
      EXPECT_TRUE(std::isnan(got[i])) << what << "[" << i << "] = " << got[i];
    else
      EXPECT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << what << "[" << i << "]";
  }
}

class PReLUGolden : public tandem::testing::GoldenCaseTest {};
class PReLUOnDevice : public tandem::testing::DeviceTest {};

}  // namespace

TEST(PReLUGoldenFixture, HasCases) {
  ASSERT_TRUE(fixture().is_object()) << "tests/fixtures/prelu.json is missing or unreadable";
  EXPECT_EQ(cases().size(), 12u);
}

TEST_P(PReLUGolden, MatchesPyTorch) {
  const json& c = cases()[case_index()];
  const std::string name = c["name"];
  const DType dtype = c["dtype"] == "float32" ? DType::Float32 : DType::Float64;
  Tensor x = tensor_of(c["x"], device(), dtype).set_requires_grad(true);
  Tensor w = tensor_of(c["w"], device(), dtype).set_requires_grad(true);
  const Tensor out = prelu(x, w);
  EXPECT_EQ(out.sizes(), x.sizes()) << name;
  EXPECT_EQ(out.dtype(), dtype) << name;
  (out * tensor_of(c["v"], device(), dtype)).sum().backward();
  expect_close(out, c["out"], dtype, name + " output");
  expect_close(x.grad(), c["grad_x"], dtype, name + " input gradient");
  expect_close(w.grad(), c["grad_w"], dtype, name + " weight gradient");
}
TANDEM_INSTANTIATE_GOLDEN_TEST(PReLUGolden, tandem::testing::case_names(cases()));

TEST_P(PReLUOnDevice, GradientsMatchFiniteDifferences) {
  // Away from the kink at 0, where the derivative jumps.
  const Tensor x = tandem::testing::leaf({3, 4, 2}, 5, device());
  const Tensor w = tandem::testing::leaf({4}, 6, device());
  const Tensor w1 = tandem::testing::leaf({1}, 7, device());
  EXPECT_TRUE(gradcheck([](const TensorList& v) { return prelu(v[0], v[1]); }, {x, w}));
  EXPECT_TRUE(gradcheck([](const TensorList& v) { return prelu(v[0], v[1]); }, {x, w1}));
}
// PyTorch's prelu_backward gives the weight sum(x * g) over x <= 0 only: an infinite x > 0 adds
// nothing (not inf * 0).
TEST_P(PReLUOnDevice, AnInfiniteInputAddsNothingToTheWeightsGradient) {
  const double inf = std::numeric_limits<double>::infinity();
  Tensor x = from_vector(std::vector<double>{inf, -2, 3}, {3}).to(device()).set_requires_grad(true);
  Tensor w = full({1}, 0.5, TensorOptions(DType::Float32, device())).set_requires_grad(true);
  prelu(x, w).sum().backward();
  EXPECT_EQ(w.grad().cpu().to_vector(), std::vector<double>{-2.0});
  EXPECT_EQ(x.grad().cpu().to_vector(), (std::vector<double>{1.0, 0.5, 1.0}));
}
TANDEM_INSTANTIATE_DEVICE_TEST(PReLUOnDevice);

TEST(PReLUModule, InitReprErrorsAndYamlLayer) {
  const json& m = section("modules");
  ASSERT_EQ(m.size(), 2u);
  const nn::PReLU one;
  EXPECT_EQ(one.repr(), m["default"]["repr"].get<std::string>());
  EXPECT_EQ(one.weight.to_vector(), m["default"]["weight"].get<std::vector<double>>());
  const nn::PReLU three(3, 0.1);
  EXPECT_EQ(three.repr(), m["three"]["repr"].get<std::string>());
  EXPECT_EQ(three.weight.to_vector(), m["three"]["weight"].get<std::vector<double>>());
  std::vector<std::string> keys;
  for (const auto& [k, v] : three.state_dict()) keys.push_back(k);
  EXPECT_EQ(keys, m["three"]["keys"].get<std::vector<std::string>>());

  const json& e = section("errors");
  EXPECT_EQ(error_text([] {
              prelu(ones({2, 3, 4}), ones({4}));
            }),
            e["channels"].get<std::string>());
  EXPECT_EQ(error_text([] { prelu(ones({}), ones({2})); }), e["zero_dim_input"].get<std::string>());
  EXPECT_EQ(error_text([] { prelu(ones({5}), ones({5})); }), e["one_dim_input"].get<std::string>());
  EXPECT_EQ(error_text([] {
              prelu(ones({2, 3}), ones({1, 3}));
            }),
            e["weight_2d"].get<std::string>());
  EXPECT_EQ(
      error_text([] {
        prelu(ones({2, 3}, TensorOptions(DType::Int64)), ones({3}, TensorOptions(DType::Int64)));
      }),
      e["long"].get<std::string>());

  const launch::RunConfig cfg = launch::parse_config(R"(
model:
  name: sequential
  layers:
    - conv2d: {in_channels: 1, out_channels: 4, kernel_size: 3}
    - prelu: {num_parameters: 4, init: 0.1}
    - prelu
data: {dataset: synthetic}
)",
                                                     "prelu.yaml");
  Generator gen(0);
  const nn::ModulePtr model = nn::models::build_model(cfg.model, gen);
  std::vector<std::string> names;
  for (const auto& [k, v] : model->state_dict()) names.push_back(k);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "2.weight"}));
  EXPECT_EQ(model->forward(ones({2, 1, 5, 5})).sizes(), (Shape{2, 4, 3, 3}));
}
