// Elementwise ops, comparisons and reductions on bfloat16 and float16 tensors against PyTorch
// 1.13 (tests/fixtures/ops_half.json from make_ops_half.py), on each device: the output dtype,
// and the values. Both compute in float and round once to the tensor's dtype, so the ops made of
// one correctly rounded float operation (add, mul, div, maximum, clamp, the scalar ops, ...) match
// to the bit; transcendental functions, pow, reductions and matrix products, whose float results
// may differ in the last float bits between libraries (or sum in another order), match within
// one unit in the last place of the dtype
// (2^-7 relative for bfloat16, 2^-10 for float16). Gradients are computed in the dtype as
// PyTorch does and match within two units (or 1e-6 of a gradient that is 0 in PyTorch: GELU's
// far tail, where the float computations of the two libraries cancel differently).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "framework/ops/ops.h"
#include "tests/golden_cases.h"

using namespace tandem;
using nlohmann::json;
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

namespace {

const std::map<std::string, Fn>& ops() {
  static const std::map<std::string, Fn> m = {
      {"add", [](const auto& x) { return add(x[0], x[1], 0.5); }},
      {"add_broadcast", [](const auto& x) { return x[0] + x[1]; }},
      {"sub", [](const auto& x) { return x[0] - x[1]; }},
      {"mul", [](const auto& x) { return x[0] * x[1]; }},
      {"div", [](const auto& x) { return x[0] / x[1]; }},
      {"maximum", [](const auto& x) { return maximum(x[0], x[1]); }},
      {"pow_tensor", [](const auto& x) { return pow(x[0], x[1]); }},
      {"neg", [](const auto& x) { return -x[0]; }},
      {"abs", [](const auto& x) { return abs(x[0]); }},
      {"exp", [](const auto& x) { return exp(x[0]); }},
      {"log", [](const auto& x) { return log(x[0]); }},
      {"sqrt", [](const auto& x) { return sqrt(x[0]); }},
      {"relu", [](const auto& x) { return relu(x[0]); }},
      {"sigmoid", [](const auto& x) { return sigmoid(x[0]); }},
      {"tanh", [](const auto& x) { return tanh(x[0]); }},
      {"gelu", [](const auto& x) { return gelu(x[0]); }},
      {"leaky_relu", [](const auto& x) { return leaky_relu(x[0], 0.1); }},
      {"clamp", [](const auto& x) { return clamp(x[0], -0.7, 0.9); }},
      {"pow_scalar", [](const auto& x) { return pow(x[0], 3.0); }},
      {"pow_third", [](const auto& x) { return pow(x[0], 1.0 / 3.0); }},
      {"pow_sqrt", [](const auto& x) { return pow(x[0], 0.5); }},
      {"mul_scalar", [](const auto& x) { return x[0] * 0.1; }},
      {"add_scalar", [](const auto& x) { return x[0] + 0.3; }},
      {"rsub_scalar", [](const auto& x) { return 0.3 - x[0]; }},
      {"mul_scalar_inplace", [](const auto& x) { return x[0].clone().mul_(0.7); }},
      {"add_scalar_inplace", [](const auto& x) { return x[0].clone().add_(0.3); }},
      {"div_scalar_inplace", [](const auto& x) { return x[0].clone().div_(0.7); }},
      {"mm", [](const auto& x) { return mm(x[0], x[1]); }},
      {"mm_transposed", [](const auto& x) { return mm(x[0].t(), x[1]); }},
      {"linear", [](const auto& x) { return linear(x[0], x[1], x[2]); }},
      {"bmm", [](const auto& x) { return matmul(x[0], x[1]); }},
      {"lt", [](const auto& x) { return lt(x[0], x[1]); }},
      {"eq", [](const auto& x) { return eq(x[0], x[1]); }},
      {"sum_all", [](const auto& x) { return x[0].sum(); }},
      {"sum_dim", [](const auto& x) { return x[0].sum({1}); }},
      {"mean_dim", [](const auto& x) { return x[0].mean({0}); }},
      {"amax", [](const auto& x) { return amax(x[0], {1}); }},
  };
  return m;
}

// Ops whose result is one correctly rounded float operation per element: bit-exact.
bool exact(const std::string& op) {
  static const std::set<std::string> s = {"add",
                                          "add_broadcast",
                                          "sub",
                                          "mul",
                                          "div",
                                          "maximum",
                                          "neg",
                                          "abs",
                                          "relu",
                                          "leaky_relu",
                                          "clamp",
                                          "mul_scalar",
                                          "add_scalar",
                                          "rsub_scalar",
                                          "lt",
                                          "eq",
                                          "amax",
                                          "mul_scalar_inplace",
                                          "add_scalar_inplace",
                                          "div_scalar_inplace"};
  return s.count(op) > 0;
}

const json& cases() {
  static const json c = tandem::testing::fixture_cases("ops_half.json");
  return c;
}

// `ulps` units in the last place of `dtype` at the magnitude of `want`.
double tolerance(double want, const std::string& dtype, double ulps) {
  const int mantissa_bits = dtype == "bfloat16" ? 7 : 10;
  const double mag = std::max(std::abs(want), dtype == "bfloat16" ? 1e-30 : 6.1e-5);
  return ulps * std::ldexp(1.0, std::ilogb(mag) - mantissa_bits);
}

}  // namespace

class OpsHalfGolden : public tandem::testing::GoldenCaseTest {};

TEST(OpsHalfGoldenFixture, CoversEveryOpInBothHalfTypes) {
  ASSERT_GT(cases().size(), 50u) << "fixture ops_half.json";
  std::set<std::string> bf16, fp16;
  for (const auto& c : cases()) (c["dtype"] == "bfloat16" ? bf16 : fp16).insert(c["op"]);
  EXPECT_EQ(bf16.size(), ops().size());
  EXPECT_GE(fp16.size(), 15u);
}

TEST_P(OpsHalfGolden, MatchesPyTorch) {
  const json& c = cases()[case_index()];
  const std::string op = c["op"], dtype_str = c["dtype"];
  ASSERT_TRUE(ops().count(op)) << "no op for case " << c["name"];
  const DType dtype = dtype_from_name(dtype_str);
  const bool grad = c.contains("grads");
  std::vector<Tensor> in;
  for (size_t i = 0; i < c["inputs"].size(); ++i) {
    Tensor t = from_vector(c["inputs"][i].get<std::vector<double>>(), c["shapes"][i].get<Shape>())
                   .to(dtype)
                   .to(device());
    in.push_back(grad ? t.set_requires_grad(true) : t);
  }
  Tensor out = ops().at(op)(in);
  ASSERT_EQ(out.sizes(), c["out_shape"].get<Shape>());
  EXPECT_EQ(std::string(dtype_name(out.dtype())), c["out_dtype"].get<std::string>());
  EXPECT_EQ(out.device(), device());
  const auto got = out.cpu().to(DType::Float64).to_vector();
  const auto want = c["out"].get<std::vector<double>>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i;
    } else if (exact(op)) {
      EXPECT_EQ(got[i], want[i]) << "element " << i;
    } else {
      // GELU's 1 + erf(x / sqrt(2)) cancels in its far negative tail, where float computations
      // of two libraries keep only a few bits in common: float16 resolves them.
      EXPECT_NEAR(got[i], want[i], tolerance(want[i], dtype_str, op == "gelu" ? 4 : 1))
          << "element " << i;
    }
  }
  if (!grad) return;
  const Tensor v =
      from_vector(c["v"].get<std::vector<double>>(), out.sizes()).to(dtype).to(device());
  (out * v).sum().backward();
  for (size_t k = 0; k < in.size(); ++k) {
    ASSERT_TRUE(in[k].grad().defined()) << "input " << k << " got no gradient";
    EXPECT_EQ(in[k].grad().dtype(), dtype);
    const auto g = in[k].grad().cpu().to(DType::Float64).to_vector();
    const auto wg = c["grads"][k].get<std::vector<double>>();
    ASSERT_EQ(g.size(), wg.size());
    for (size_t i = 0; i < g.size(); ++i)
      EXPECT_NEAR(g[i], wg[i], tolerance(wg[i], dtype_str, 2) + 1e-6)  // 1e-6: a gradient of 0 in
          << "grad " << k << " element " << i;                         // float may not round to 0
  }
}

TANDEM_INSTANTIATE_GOLDEN_TEST(OpsHalfGolden, tandem::testing::case_names(cases()));
