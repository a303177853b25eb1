// Broadcasting elementwise ops and sum/mean against PyTorch 1.13 (tests/fixtures/
// ops_elementwise.json from make_ops_elementwise.py): float32 forward within 1e-5 relative,
// gradients within 1e-4.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "framework/ops/ops.h"
#include "tests/fixtures_dir.h"

using namespace tandem;
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

TEST(OpsElementwiseGolden, ForwardAndGradientsMatchPyTorch) {
  const std::map<std::string, Fn> ops = {
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
  std::ifstream f(tandem::testing::fixture_path("ops_elementwise.json"));
  const auto cases = nlohmann::json::parse(f);
  ASSERT_EQ(cases.size(), ops.size());
  for (const auto& c : cases) {
    const std::string name = c["name"];
    std::vector<Tensor> in;
    for (size_t i = 0; i < c["inputs"].size(); ++i)
      in.push_back(
          from_vector(c["inputs"][i].get<std::vector<double>>(), c["shapes"][i].get<Shape>())
              .set_requires_grad(true));
    Tensor out = ops.at(name)(in);
    ASSERT_EQ(out.sizes(), c["out_shape"].get<Shape>()) << name;
    const auto got = out.to_vector(), want = c["out"].get<std::vector<double>>();
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], want[i], 1e-6 + 1e-5 * std::abs(want[i])) << name;
    (out * from_vector(c["v"].get<std::vector<double>>(), out.sizes())).sum().backward();
    for (size_t k = 0; k < in.size(); ++k) {
      const auto g = in[k].grad().to_vector(), wg = c["grads"][k].get<std::vector<double>>();
      for (size_t i = 0; i < g.size(); ++i)
        EXPECT_NEAR(g[i], wg[i], 1e-4 * (1 + std::abs(wg[i]))) << name << " grad " << k;
    }
  }
}
