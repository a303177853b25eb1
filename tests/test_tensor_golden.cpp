// Factories and conversions against values produced by real PyTorch (tests/fixtures/tensor.json,
// made by tests/fixtures/make_tensor.py), one test per case and device
// (TensorGolden.MatchesTorch/randn_seed3_n37_cuda). Random values are drawn on the host with
// torch's CPU order and moved to the device; float16/bfloat16 conversions run on the device.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "framework/tensor/factories.h"
#include "tests/golden_cases.h"

using namespace tandem;
using nlohmann::json;

namespace {

// A number, or "inf"/"-inf"/"nan" (JSON has no non-finite numbers).
double number(const json& j) {
  return j.is_string() ? std::stod(j.get<std::string>()) : j.get<double>();
}

struct Case {
  std::string kind;  // randperm, rand, randn, float16, bfloat16
  json data;
  std::string name;
};

// The fixture's cases in one list: each randperm/rand/randn entry, and the two conversions.
const std::vector<Case>& cases() {
  static const std::vector<Case> c = [] {
    std::vector<Case> out;
    const json all = tandem::testing::load_fixture("tensor.json");
    if (!all.is_object()) return out;
    for (const char* kind : {"randperm", "rand", "randn"})
      if (all.contains(kind))
        for (const json& e : all[kind])
          out.push_back({kind, e,
                         std::string(kind) + "_seed" + std::to_string(e["seed"].get<uint64_t>()) +
                             "_n" + std::to_string(e["n"].get<int64_t>())});
    for (const char* kind : {"float16", "bfloat16"})
      if (all.contains(kind)) out.push_back({kind, all[kind], kind});
    return out;
  }();
  return c;
}

std::vector<std::string> names() {
  json named = json::array();
  for (const Case& c : cases()) named.push_back({{"name", c.name}});
  return tandem::testing::case_names(named);
}

}  // namespace

TEST(TensorGoldenFixture, HasEveryKind) {
  std::map<std::string, int> count;
  for (const Case& c : cases()) ++count[c.kind];
  EXPECT_EQ(count["randperm"], 4);
  EXPECT_EQ(count["rand"], 2);
  EXPECT_EQ(count["randn"], 3);
  EXPECT_EQ(count["float16"], 1);
  EXPECT_EQ(count["bfloat16"], 1);
}

class TensorGolden : public tandem::testing::GoldenCaseTest {};

TEST_P(TensorGolden, MatchesTorch) {
  const Case& c = cases()[case_index()];
  const json& j = c.data;
  auto on_device = [&](const Tensor& t) {
    EXPECT_EQ(t.device(), device());
    return t.cpu().to_vector();
  };
  if (c.kind == "randperm") {
    Generator gen(j["seed"].get<uint64_t>());
    const Tensor p =
        randperm(j["n"].get<int64_t>(), gen, TensorOptions(DType::Int64).with_device(device()));
    EXPECT_EQ(p.dtype(), DType::Int64);
    EXPECT_EQ(on_device(p), j["perm"].get<std::vector<double>>());
  } else if (c.kind == "rand") {
    // Bit for bit, in both float types.
    Generator gen(j["seed"].get<uint64_t>());
    const int64_t n = j["n"];
    EXPECT_EQ(on_device(rand({n}, gen, TensorOptions(DType::Float32).with_device(device()))),
              j["float32"].get<std::vector<double>>());
    EXPECT_EQ(on_device(rand({n}, gen, TensorOptions(DType::Float64).with_device(device()))),
              j["float64"].get<std::vector<double>>());
  } else if (c.kind == "randn") {
    // n >= 16 uses torch's normal_fill (same uniforms, Box-Muller in blocks of 16); torch's
    // AVX2 build evaluates sin/cos/log with SLEEF, so values agree to float rounding, not bit
    // for bit. n < 16 uses the double Box-Muller with a cached second sample.
    Generator gen(j["seed"].get<uint64_t>());
    const int64_t n = j["n"];
    const std::vector<double> got =
        on_device(randn({n}, gen, TensorOptions(DType::Float32).with_device(device())));
    const std::vector<double> want = j["float32"].get<std::vector<double>>();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], want[i], 1e-5 * (1 + std::abs(want[i]))) << "i " << i;
  } else {
    // float32 -> float16/bfloat16 -> float64, both conversions on the device.
    const DType dt = dtype_from_name(c.kind);
    const std::vector<double> in = j["in"].get<std::vector<double>>();
    const Tensor half = from_vector(in, {int64_t(in.size())}).to(device()).to(dt);
    EXPECT_EQ(half.dtype(), dt);
    const std::vector<double> got = on_device(half.to(DType::Float64));
    ASSERT_EQ(got.size(), in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      const double want = number(j["out"][i]);
      if (std::isnan(want))
        EXPECT_TRUE(std::isnan(got[i])) << c.kind << " of " << in[i];
      else
        EXPECT_EQ(got[i], want) << c.kind << " of " << in[i];
    }
  }
}

TANDEM_INSTANTIATE_GOLDEN_TEST(TensorGolden, names());

// --- views (tests/fixtures/views.json, made by tests/fixtures/make_views.py) ---------------------
// Chains of view ops on an arange: each result has torch's sizes, strides, storage offset,
// contiguity and values, and a reshape, flatten or contiguous is a view exactly where torch's is.
namespace {

const json& view_cases() {
  static const json c = tandem::testing::fixture_cases("views.json");
  return c;
}

Tensor apply_view_op(const Tensor& t, const json& op) {
  const std::string name = op[0];
  if (name == "t") return t.t();
  if (name == "transpose") return t.transpose(op[1], op[2]);
  if (name == "permute") return t.permute(op[1].get<Shape>());
  if (name == "narrow") return t.narrow(op[1], op[2], op[3]);
  if (name == "slice") return t.slice(op[1], op[2], op[3], op[4]);
  if (name == "select") return t.select(op[1], op[2]);
  if (name == "unsqueeze") return t.unsqueeze(op[1]);
  if (name == "squeeze") return op.size() > 1 ? t.squeeze(op[1].get<int64_t>()) : t.squeeze();
  if (name == "expand") return t.expand(op[1].get<Shape>());
  if (name == "view") return t.view(op[1].get<Shape>());
  if (name == "reshape") return t.reshape(op[1].get<Shape>());
  if (name == "flatten") return t.flatten();
  if (name == "contiguous") return t.contiguous();
  ADD_FAILURE() << "unknown view op " << name;
  return t;
}

}  // namespace

TEST(ViewsGoldenFixture, HasCases) { EXPECT_GE(view_cases().size(), 30u) << "fixture views.json"; }

class ViewsGolden : public tandem::testing::GoldenCaseTest {};

TEST_P(ViewsGolden, MatchesTorch) {
  const json& c = view_cases()[case_index()];
  const Shape shape = c["shape"].get<Shape>();
  const Tensor base =
      arange(double(shape_numel(shape)), TensorOptions(DType::Float32).with_device(device()))
          .reshape(shape);
  Tensor t = base;
  for (const json& op : c["chain"]) {
    // flatten's arguments, when given, are (start, end).
    t = op[0] == "flatten" && op.size() > 1 ? t.flatten(op[1], op[2]) : apply_view_op(t, op);
  }
  EXPECT_EQ(t.sizes(), c["sizes"].get<Shape>());
  EXPECT_EQ(t.strides(), c["strides"].get<Shape>());
  EXPECT_EQ(t.storage_offset(), c["offset"].get<int64_t>());
  EXPECT_EQ(t.is_contiguous(), c["contiguous"].get<bool>());
  EXPECT_EQ(t.device(), device());
  if (t.numel() > 0) {
    EXPECT_EQ(t.storage().get() == base.storage().get(), c["shares"].get<bool>())
        << (c["shares"].get<bool>() ? "torch gives a view" : "torch copies");
  }
  EXPECT_EQ(t.cpu().to_vector(), c["values"].get<std::vector<double>>());
}

TANDEM_INSTANTIATE_GOLDEN_TEST(ViewsGolden, tandem::testing::case_names(view_cases()));
