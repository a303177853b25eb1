// Core ops (reductions, activations, softmax, matmul/linear, losses, cat/stack/index_select)
// against golden values from real PyTorch: tests/fixtures/ops_core.json, written by
// tests/fixtures/make_ops_core.py. One test per case and device (OpsCoreGolden.MatchesPyTorch/
// softmax_1_cuda): inputs are made on the CPU from the fixture and moved to the device as leaves,
// outputs and gradients come back with .cpu(). Forward in float32 within rtol 1e-5 (+ atol
// 1e-6); input gradients of (out * v).sum() within 1e-4.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>  // nlohmann::json
#include <optional>

#include "framework/ops/ops.h"
#include "tests/golden_cases.h"

using namespace tandem;
using nlohmann::json;

namespace {

const json& cases() {
  static const json c = tandem::testing::fixture_cases("ops_core.json");
  return c;
}

// A fixture tensor, made on the CPU and moved to `device`.
Tensor decode(const json& j, Device device) {
  const Shape shape = j["shape"].get<Shape>();
  if (j["dtype"] == "int64")
    return from_vector(j["values"].get<std::vector<int64_t>>(), shape).to(device);
  if (j["dtype"] == "bool")
    return from_vector(j["values"].get<std::vector<int64_t>>(), shape).to(DType::Bool).to(device);
  return from_vector(tandem::testing::fixture_numbers(j["values"]), shape,
                     TensorOptions(DType::Float32))
      .to(device);
}

Shape dims_of(const json& p) { return p["dims"].get<Shape>(); }

// Runs case `c` on `in`; returns all outputs (the differentiated one first).
std::vector<Tensor> run_op(const json& c, const std::vector<Tensor>& in) {
  const std::string op = c["op"];
  const json& p = c["params"];
  auto reduction = [&] { return reduction_from_string(p["reduction"]); };
  if (op == "var") return {var(in[0], dims_of(p), p["correction"], p["keepdim"])};
  if (op == "max_all") return {max(in[0])};
  if (op == "max_dim") {
    auto [v, i] = max(in[0], p["dim"], p["keepdim"]);
    return {v, i};
  }
  if (op == "argmax") return {argmax(in[0], p["dim"], p["keepdim"])};
  if (op == "amax") return {amax(in[0], dims_of(p), p["keepdim"])};
  if (op == "relu") return {relu(in[0])};
  if (op == "leaky_relu") return {leaky_relu(in[0], p["negative_slope"])};
  if (op == "gelu") return {gelu(in[0], p["approximate"])};
  if (op == "sigmoid") return {sigmoid(in[0])};
  if (op == "tanh") return {tandem::tanh(in[0])};
  if (op == "softmax") return {softmax(in[0], p["dim"])};
  if (op == "log_softmax") return {log_softmax(in[0], p["dim"])};
  if (op == "matmul") return {matmul(in[0], in[1])};
  if (op == "mm") return {mm(in[0], in[1])};
  if (op == "linear") return {linear(in[0], in[1], in.size() > 2 ? in[2] : Tensor())};
  if (op == "cross_entropy")
    return {cross_entropy(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), reduction(),
                          p["ignore_index"], p["label_smoothing"])};
  if (op == "nll_loss")
    return {
        nll_loss(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), reduction(), p["ignore_index"])};
  if (op == "mse_loss") return {mse_loss(in[0], in[1], reduction())};
  if (op == "cat") return {cat(in, p["dim"])};
  if (op == "stack") return {stack(in, p["dim"])};
  if (op == "index_select") return {index_select(in[0], p["dim"], in[1])};
  // Elementwise ops at the edges of their domains.
  if (op == "div") return {div(in[0], in[1])};
  if (op == "pow") return {pow(in[0], in[1])};
  if (op == "pow_scalar") return {pow(in[0], p["exponent"].get<double>())};
  if (op == "log") return {log(in[0])};
  if (op == "sqrt") return {sqrt(in[0])};
  if (op == "abs") return {abs(in[0])};
  if (op == "exp") return {exp(in[0])};
  if (op == "clamp") {
    auto bound = [&](const char* k) {
      return p.contains(k) ? std::optional<double>(p[k].get<double>()) : std::nullopt;
    };
    return {clamp(in[0], bound("min"), bound("max"))};
  }
  if (op == "maximum") return {maximum(in[0], in[1])};
  if (op == "where") return {where(in[0], in[1], in[2])};
  // Spatial ops (square kernels, strides and paddings).
  auto pair = [&](const char* k) { return Pair{p[k].get<int64_t>(), p[k].get<int64_t>()}; };
  if (op == "max_pool2d")
    return {
        max_pool2d(in[0], pair("kernel"), pair("stride"), pair("padding"), {1, 1}, p["ceil_mode"])};
  if (op == "avg_pool2d")
    return {avg_pool2d(in[0], pair("kernel"), pair("stride"), pair("padding"), p["ceil_mode"],
                       p["count_include_pad"])};
  if (op == "adaptive_avg_pool2d") return {adaptive_avg_pool2d(in[0], p["size"].get<Pair>())};
  if (op == "interpolate")
    return {interpolate(
        in[0], p["size"].get<Pair>(), std::nullopt, p["mode"],
        p["mode"] == "nearest" ? std::nullopt : std::optional<bool>(p["align_corners"]))};
  if (op == "conv2d")
    return {conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), pair("stride"), pair("padding"),
                   pair("dilation"), p["groups"])};
  if (op == "batch_norm_eval")
    return {batch_norm(in[0], in[1].detach(), in[2].detach(), in[3], in[4], false)};
  ADD_FAILURE() << "unknown op " << op;
  return {};
}

void expect_close(const Tensor& got, const json& want, double rtol, double atol,
                  const std::string& what) {
  ASSERT_EQ(got.sizes(), want["shape"].get<Shape>()) << what;
  const std::vector<double> g = got.cpu().to_vector();
  const std::vector<double> w = tandem::testing::fixture_numbers(want["values"]);
  for (size_t i = 0; i < w.size(); ++i) {
    if (std::isinf(w[i])) {
      EXPECT_EQ(g[i], w[i]) << what << " element " << i;
      continue;
    }
    if (std::isnan(w[i])) {
      EXPECT_TRUE(std::isnan(g[i])) << what << " element " << i << ": expected nan, got " << g[i];
      continue;
    }
    EXPECT_LE(std::abs(g[i] - w[i]), atol + rtol * std::abs(w[i]))
        << what << " element " << i << ": got " << g[i] << ", want " << w[i];
  }
}

}  // namespace

class OpsCoreGolden : public tandem::testing::GoldenCaseTest {};

TEST(OpsCoreGoldenFixture, HasCases) { EXPECT_GT(cases().size(), 50u) << "fixture ops_core.json"; }

TEST_P(OpsCoreGolden, MatchesPyTorch) {
  const json& c = cases()[case_index()];
  const std::string name = c["name"];
  std::vector<Tensor> in;
  for (const json& j : c["inputs"]) {
    Tensor t = decode(j, device());  // a leaf on the device
    if (is_floating(t.dtype())) t.set_requires_grad(true);
    in.push_back(t);
  }
  // Class weights are constants in PyTorch's losses (the fixture detaches them).
  if (c["op"] == "cross_entropy" || c["op"] == "nll_loss")
    if (in.size() > 2) in[2] = in[2].detach();
  const std::vector<Tensor> out = run_op(c, in);
  ASSERT_EQ(out.size(), c["outputs"].size());
  for (size_t k = 0; k < out.size(); ++k) {
    EXPECT_EQ(out[k].device(), device()) << name << " output " << k;
    EXPECT_EQ(dtype_name(out[k].dtype()),
              dtype_name(c["outputs"][k]["dtype"] == "int64" ? DType::Int64 : DType::Float32));
    expect_close(out[k], c["outputs"][k], 1e-5, 1e-6, name + " output " + std::to_string(k));
  }
  if (!out[0].requires_grad()) return;
  out[0].backward(decode(c["v"], device()));
  for (size_t k = 0; k < in.size(); ++k) {
    const json& want = c["grads"][k];
    if (want.is_null()) continue;
    ASSERT_TRUE(in[k].grad().defined()) << name << " input " << k << " got no gradient";
    EXPECT_EQ(in[k].grad().device(), device()) << name << " grad " << k;
    expect_close(in[k].grad(), want, 1e-4, 1e-4, name + " grad " + std::to_string(k));
  }
}

TANDEM_INSTANTIATE_GOLDEN_TEST(OpsCoreGolden, tandem::testing::case_names(cases()));
