// Broadcasting elementwise ops and sum/mean against PyTorch 1.13 (tests/fixtures/
// ops_elementwise.json from make_ops_elementwise.py), one test per case and device
// (OpsElementwiseGolden.MatchesPyTorch/div_cuda): float32 forward within 1e-5 relative,
// gradients within 1e-4.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "framework/ops/ops.h"
#include "tests/golden_cases.h"

using namespace tandem;
using nlohmann::json;
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

namespace {

const std::map<std::string, Fn>& ops() {
  static const std::map<std::string, Fn> m = {
      {"add", [](const auto& x) { return add(x[0], x[1], 0.5); }},
      {"sub", [](const auto& x) { return x[0] - x[1]; }},
      {"mul", [](const auto& x) { return x[0] * x[1]; }},
      {"div", [](const auto& x) { return x[0] / x[1]; }},
      {"neg", [](const auto& x) { return -x[0]; }},
      {"pow_scalar", [](const auto& x) { return pow(x[0], 3.0); }},
      {"pow_tensor", [](const auto& x) { return pow(x[0], x[1]); }},
      {"exp", [](const auto& x) { return exp(x[0]); }},
      {"log", [](const auto& x) { return log(x[0]); }},
      {"sqrt", [](const auto& x) { return sqrt(x[0]); }},
      {"abs", [](const auto& x) { return abs(x[0]); }},
      {"clamp", [](const auto& x) { return clamp(x[0], -0.5, 0.5); }},
      {"sum_all", [](const auto& x) { return x[0].sum(); }},
      {"sum_dim_keepdim", [](const auto& x) { return x[0].sum({1}, true); }},
      {"mean_dims",
       [](const auto& x) {
         return x[0].mean({0, 1});
       }},
      {"mean_dim0", [](const auto& x) { return x[0].mean({0}); }},
  };
  return m;
}

const json& cases() {
  static const json c = tandem::testing::fixture_cases("ops_elementwise.json");
  return c;
}

}  // namespace

class OpsElementwiseGolden : public tandem::testing::GoldenCaseTest {};

TEST(OpsElementwiseGoldenFixture, HasEveryOp) {
  ASSERT_EQ(cases().size(), ops().size()) << "fixture ops_elementwise.json";
  for (const auto& c : cases()) EXPECT_TRUE(ops().count(c["name"])) << c["name"];
}

TEST_P(OpsElementwiseGolden, MatchesPyTorch) {
  const json& c = cases()[case_index()];
  const std::string name = c["name"];
  ASSERT_TRUE(ops().count(name)) << "no op for case " << name;
  std::vector<Tensor> in;
  for (size_t i = 0; i < c["inputs"].size(); ++i)
    in.push_back(from_vector(c["inputs"][i].get<std::vector<double>>(), c["shapes"][i].get<Shape>())
                     .to(device())
                     .set_requires_grad(true));
  Tensor out = ops().at(name)(in);
  ASSERT_EQ(out.sizes(), c["out_shape"].get<Shape>()) << name;
  EXPECT_EQ(out.device(), device());
  const auto got = out.cpu().to_vector(), want = c["out"].get<std::vector<double>>();
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-6 + 1e-5 * std::abs(want[i])) << name << " element " << i;
  (out * from_vector(c["v"].get<std::vector<double>>(), out.sizes()).to(device())).sum().backward();
  for (size_t k = 0; k < in.size(); ++k) {
    ASSERT_TRUE(in[k].grad().defined()) << name << " input " << k << " got no gradient";
    EXPECT_EQ(in[k].grad().device(), device());
    const auto g = in[k].grad().cpu().to_vector(), wg = c["grads"][k].get<std::vector<double>>();
    ASSERT_EQ(g.size(), wg.size()) << name << " grad " << k;
    for (size_t i = 0; i < g.size(); ++i)
      EXPECT_NEAR(g[i], wg[i], 1e-4 * (1 + std::abs(wg[i]))) << name << " grad " << k;
  }
}

TANDEM_INSTANTIATE_GOLDEN_TEST(OpsElementwiseGolden, tandem::testing::case_names(cases()));
