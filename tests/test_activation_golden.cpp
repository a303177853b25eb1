// SiLU, Mish, ELU, SELU, CELU, Softplus, Hardsigmoid and Hardswish against PyTorch 1.13
// (tests/fixtures/activations.json from make_activations.py): outputs and input gradients in
// float64 and float32 on both sides of every branch (0, +-3, the softplus threshold, NaN) on each
// device, gradients against finite differences, the modules' reprs, the YAML layer names, and
// PyTorch's errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "framework/nn/models/builder.h"
#include "framework/nn/nn.h"
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
  static const json f = tandem::testing::load_fixture("activations.json");
  return f;
}
const json& cases() {
  static const json c = fixture().is_object() ? fixture()["cases"] : json::array();
  return c;
}

// The fixture's functions, as make_activations.py calls them.
const std::map<std::string, std::function<Tensor(const Tensor&)>>& functions() {
  static const std::map<std::string, std::function<Tensor(const Tensor&)>> f = {
      {"silu", [](const Tensor& x) { return silu(x); }},
      {"mish", [](const Tensor& x) { return mish(x); }},
      {"elu", [](const Tensor& x) { return elu(x); }},
      {"elu_alpha", [](const Tensor& x) { return elu(x, 0.3); }},
      {"selu", [](const Tensor& x) { return selu(x); }},
      {"celu", [](const Tensor& x) { return celu(x); }},
      {"celu_alpha", [](const Tensor& x) { return celu(x, 2.5); }},
      {"softplus", [](const Tensor& x) { return softplus(x); }},
      {"softplus_beta", [](const Tensor& x) { return softplus(x, 2, 10); }},
      {"softplus_fraction", [](const Tensor& x) { return softplus(x, 0.5, 5.5); }},
      {"hardsigmoid", [](const Tensor& x) { return hardsigmoid(x); }},
      {"hardswish", [](const Tensor& x) { return hardswish(x); }},
  };
  return f;
}

class ActivationGolden : public tandem::testing::GoldenCaseTest {};
class ActivationOnDevice : public tandem::testing::DeviceTest {};

}  // namespace

TEST(ActivationGoldenFixture, HasCases) {
  ASSERT_TRUE(fixture().is_object()) << "tests/fixtures/activations.json is missing or unreadable";
  EXPECT_EQ(cases().size(), 2 * functions().size());
}

TEST_P(ActivationGolden, MatchesPyTorch) {
  const json& c = cases()[case_index()];
  const std::string name = c["name"];
  const DType dtype = c["dtype"] == "float32" ? DType::Float32 : DType::Float64;
  const std::vector<double> input = tandem::testing::fixture_numbers(c["input"]);
  const Shape shape{int64_t(input.size())};
  Tensor x = from_vector(input, shape, TensorOptions(DType::Float64)).to(device(), dtype);
  x.set_requires_grad(true);
  Tensor out = functions().at(c["function"])(x);
  EXPECT_EQ(out.dtype(), dtype);
  EXPECT_EQ(out.device(), device());
  Tensor v =
      from_vector(tandem::testing::fixture_numbers(c["v"]), shape, TensorOptions(DType::Float64))
          .to(device(), dtype);
  (out * v).sum().backward();
  // float64: the same formulas to rounding; float32: a few ulps (PyTorch's CPU kernels are
  // vectorised, with their own exp/log1p).
  const double rtol = dtype == DType::Float64 ? 1e-13 : 4e-6;
  const double atol = dtype == DType::Float64 ? 1e-15 : 1e-7;
  auto expect_close = [&](const std::vector<double>& got, const std::vector<double>& want,
                          const char* what) {
    ASSERT_EQ(got.size(), want.size()) << name;
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(want[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << name << " " << what << " at x = " << input[i];
      } else {
        EXPECT_NEAR(got[i], want[i], atol + rtol * std::abs(want[i]))
            << name << " " << what << " at x = " << input[i];
      }
    }
  };
  expect_close(out.detach().cpu().to(DType::Float64).to_vector(),
               tandem::testing::fixture_numbers(c["out"]), "output");
  ASSERT_TRUE(x.grad().defined()) << name;
  expect_close(x.grad().cpu().to(DType::Float64).to_vector(),
               tandem::testing::fixture_numbers(c["grad"]), "gradient");
}
TANDEM_INSTANTIATE_GOLDEN_TEST(ActivationGolden, tandem::testing::case_names(cases()));

TEST_P(ActivationOnDevice, GradientsMatchFiniteDifferences) {
  // Away from the kinks (+-3 for the hard ones, 0 for ELU's, the softplus threshold), where the
  // one-sided derivatives differ.
  for (const auto& [name, fn] : functions()) {
    Tensor x = leaf({3, 7}, 11, 2.0, device());
    EXPECT_TRUE(gradcheck([&fn = fn](const TensorList& t) { return fn(t[0]); }, {x})) << name;
  }
}

TEST_P(ActivationOnDevice, HalfPrecisionComputesInFloat) {
  const std::vector<double> input{-4, -2.5, -0.75, 0, 0.5, 2.25, 5};
  Tensor x32 = from_vector(input, {7}, TensorOptions(DType::Float32)).to(device());
  for (DType half : {DType::Float16, DType::BFloat16}) {
    Tensor xh = x32.to(half);
    for (const auto& [name, fn] : functions()) {
      // The half result is the float result of the half input, rounded once.
      Tensor want = fn(xh.to(DType::Float32)).to(half).cpu();
      Tensor got = fn(xh);
      EXPECT_EQ(got.dtype(), half) << name;
      EXPECT_EQ(got.cpu().to(DType::Float64).to_vector(), want.to(DType::Float64).to_vector())
          << name << " in " << dtype_name(half);
    }
  }
}
TANDEM_INSTANTIATE_DEVICE_TEST(ActivationOnDevice);

TEST(ActivationModules, ModuleReprsAreTorchs) {
  const json& r = fixture()["reprs"];
  auto check = [&](const char* key, const nn::ModulePtr& m) {
    EXPECT_EQ(m->repr(), r[key].get<std::string>()) << key;
  };
  using namespace tandem::nn;
  check("silu", std::make_shared<SiLU>());
  check("silu_inplace", std::make_shared<SiLU>(true));
  check("mish", std::make_shared<Mish>());
  check("mish_inplace", std::make_shared<Mish>(true));
  check("elu", std::make_shared<ELU>());
  check("elu_05", std::make_shared<ELU>(0.5, true));
  check("selu", std::make_shared<SELU>());
  check("selu_inplace", std::make_shared<SELU>(true));
  check("celu", std::make_shared<CELU>());
  check("celu_2", std::make_shared<CELU>(2.0));
  check("softplus", std::make_shared<Softplus>());
  check("softplus_2", std::make_shared<Softplus>(2, 10.5));
  check("hardsigmoid", std::make_shared<Hardsigmoid>(true));
  check("hardswish", std::make_shared<Hardswish>(true));
}

TEST(ActivationModules, ErrorsAreTorchs) {
  const json& e = fixture()["errors"];
  const Tensor ints = from_vector(std::vector<double>{1, 2}, {2}, TensorOptions(DType::Int64));
  for (const auto& name :
       {"silu", "mish", "elu", "softplus", "hardsigmoid", "hardswish", "selu", "celu"}) {
    const std::string want = e[name];
    const std::string got = error_text([&] {
      const std::string n = name;
      if (n == "selu") selu(ints);
      if (n == "celu") celu(ints);
      if (n != "selu" && n != "celu") functions().at(n)(ints);
    });
    EXPECT_EQ(got, want) << name;
  }
  EXPECT_EQ(error_text([] { celu(zeros({2}), 0.0); }), e["celu_alpha_0"].get<std::string>());
}

TEST(ActivationModules, YamlLayersBuildTheModules) {
  Value layers = Value::list();
  for (const char* type :
       {"silu", "mish", "elu", "selu", "celu", "softplus", "hardsigmoid", "hardswish"})
    layers.append(Value(type));
  Value spec = Value::dict();
  spec.set("name", "sequential");
  spec.set("layers", layers);
  Generator gen(0);
  nn::ModulePtr model = nn::models::build_model(spec, gen, "model");
  EXPECT_EQ(model->repr(),
            "Sequential(\n  (0): SiLU()\n  (1): Mish()\n  (2): ELU(alpha=1.0)\n  (3): SELU()\n  "
            "(4): CELU(alpha=1.0)\n  (5): Softplus(beta=1, threshold=20)\n  (6): Hardsigmoid()\n"
            "  (7): Hardswish()\n)");
  Tensor x = leaf({2, 5}, 3);
  Tensor y = model->forward(x);
  y.sum().backward();
  EXPECT_TRUE(x.grad().defined());
}
