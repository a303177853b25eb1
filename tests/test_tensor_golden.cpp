// Factories and conversions against values produced by real PyTorch (tests/fixtures/tensor.json,
// made by tests/fixtures/make_tensor.py), one test per case and device
// (TensorGolden.MatchesTorch/rand_seed7_n40_cuda). Random values are drawn on the host with
// torch's CPU order and moved to the device; float16/bfloat16 conversions run on the device.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "framework/nn/init.h"
#include "framework/tensor/factories.h"
#include "framework/tensor/normal_block_avx2.h"
#include "framework/tensor/random_fill.h"
#include "kernels/cpu/isa.h"
#include "tests/golden_cases.h"

using namespace tandem;
using nlohmann::json;

namespace {

// A number, or "inf"/"-inf"/"nan" (JSON has no non-finite numbers).
double number(const json& j) {
  return j.is_string() ? std::stod(j.get<std::string>()) : j.get<double>();
}

struct Case {
  std::string kind;  // randperm, rand, float16, bfloat16
  json data;
  std::string name;
};

// The fixture's cases in one list: each randperm/rand entry, and the two conversions.
const std::vector<Case>& cases() {
  static const std::vector<Case> c = [] {
    std::vector<Case> out;
    const json all = tandem::testing::load_fixture("tensor.json");
    if (!all.is_object()) return out;
    for (const char* kind : {"randperm", "rand"})
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

// --- rand, randn, uniform_, normal_, kaiming fills (tensor.json "normal") ------------------------
// torch drew each case on both of its CPU paths (random_fill.h). Bit for bit: the public fills
// against the path PyTorch takes on this CPU, and the fill functions against both paths, so each
// path is tested on any machine.
namespace {

const json& normal_cases() {
  static const json all = tandem::testing::load_fixture("tensor.json");
  return tandem::testing::fixture_section(all, "normal");
}

const char* path_name(AtenCpuPath p) { return p == AtenCpuPath::Avx2 ? "avx2" : "scalar"; }

// The case's fill through the public API, on `device`, in the case's logical order.
std::vector<double> public_fill(const json& c, Device device) {
  Generator gen(c["seed"].get<uint64_t>());
  const TensorOptions opts =
      TensorOptions(dtype_from_name(c["dtype"].get<std::string>())).with_device(device);
  const Shape shape = c["shape"].get<Shape>();
  const std::string op = c["op"];
  const json& args = c["args"];
  if (op == "randn") return randn(shape, gen, opts).cpu().to_vector();
  const Tensor base = zeros(shape, opts);
  Tensor t = base;
  if (c["view"] == "t") t = base.t();
  if (c["view"] == "narrow") t = base.narrow(1, 1, shape[1] - 2);
  EXPECT_EQ(t.is_contiguous(), c["contiguous"].get<bool>());
  if (op == "normal_") normal_(t, args["mean"], args["std"], gen);
  if (op == "uniform_") uniform_(t, args["low"], args["high"], gen);
  if (op == "kaiming_normal_fan_out_relu")
    nn::init::kaiming_normal_(t, 0.0, "fan_out", "relu", gen);
  if (op == "kaiming_uniform_a_sqrt5")
    nn::init::kaiming_uniform_(t, std::sqrt(5.0), "fan_in", "leaky_relu", gen);
  EXPECT_EQ(t.device(), device);
  return t.cpu().to_vector();
}

}  // namespace

TEST(RandomFillGoldenFixture, HasCasesOnBothPaths) {
  EXPECT_EQ(normal_cases().size(), 17u) << "fixture tensor.json";
  int differing = 0;
  for (const json& c : normal_cases()) {
    const auto scalar = c["values"]["scalar"].get<std::vector<double>>(),
               avx2 = c["values"]["avx2"].get<std::vector<double>>();
    ASSERT_EQ(scalar.size(), avx2.size()) << c["name"];
    differing += scalar != avx2;
  }
  EXPECT_EQ(differing, 12) << "cases whose values depend on torch's CPU path";
}

class RandomFillGolden : public tandem::testing::GoldenCaseTest {};

TEST_P(RandomFillGolden, MatchesTorchOnThisCpusPath) {
  const json& c = normal_cases()[case_index()];
  const AtenCpuPath path = pytorch_cpu_path();
  EXPECT_EQ(public_fill(c, device()), c["values"][path_name(path)].get<std::vector<double>>())
      << "torch's " << path_name(path) << " path";
}

TANDEM_INSTANTIATE_GOLDEN_TEST(RandomFillGolden, tandem::testing::case_names(normal_cases()));

// The fills are host code: every contiguous randn, normal_ and uniform_ case on both paths.
TEST(RandomFill, MatchesTorchOnBothPaths) {
  int checked = 0;
  for (const json& c : normal_cases()) {
    const std::string op = c["op"];
    if (!c["view"].is_null() || (op != "randn" && op != "normal_" && op != "uniform_")) continue;
    const int64_t n = shape_numel(c["shape"].get<Shape>());
    const json& args = c["args"];
    for (AtenCpuPath path : {AtenCpuPath::Default, AtenCpuPath::Avx2}) {
      Generator gen(c["seed"].get<uint64_t>());
      auto fill = [&](auto* data) {
        if (op == "uniform_")
          uniform_fill(data, n, args["low"], args["high"], gen, path);
        else if (op == "normal_")
          normal_fill(data, n, args["mean"], args["std"], /*contiguous=*/true, gen, path);
        else
          normal_fill(data, n, 0.0, 1.0, /*contiguous=*/true, gen, path);
      };
      std::vector<double> got(static_cast<size_t>(n));
      if (c["dtype"] == "float64") {
        fill(got.data());
      } else {
        std::vector<float> f(static_cast<size_t>(n));
        fill(f.data());
        got.assign(f.begin(), f.end());
      }
      EXPECT_EQ(got, c["values"][path_name(path)].get<std::vector<double>>())
          << c["name"] << " on torch's " << path_name(path) << " path";
    }
    ++checked;
  }
  EXPECT_EQ(checked, 11);
}

// The Avx2 path's block of 16 on the vector unit and in the portable emulation: the same bits for
// 2^20 values from the generator's uniforms, and for the edges of log's and sincos's ranges.
TEST(RandomFill, VectorUnitAndPortableEmulationAgree) {
  if (!kernels::cpu::cpu_has_avx2_fma()) GTEST_SKIP() << "this CPU has no AVX2 and FMA";
  std::vector<std::array<float, 16>> blocks;
  Generator gen(2024);
  for (int b = 0; b < (1 << 16); ++b) {
    std::array<float, 16> d;
    for (float& v : d) v = gen.uniform_float();
    blocks.push_back(d);
  }
  // u1 = 1 - d[j] at 1, the smallest steps and the sqrt(1/2) switch; u2 on octant boundaries.
  const float edges[8] = {0.0f,        0x1p-24f,   0.5f,  1 - 0x1p-24f,
                          0.29289323f, 0.2928932f, 0.25f, 0.125f};
  std::array<float, 16> e;
  for (int j = 0; j < 8; ++j) e[j] = edges[j], e[j + 8] = edges[7 - j];
  blocks.push_back(e);
  for (float mean : {0.0f, 0.1f}) {
    for (const auto& block : blocks) {
      std::array<float, 16> vector = block, portable = block;
      normal_block16_avx2(vector.data(), mean, 0.3f, /*vector_unit=*/true);
      normal_block16_avx2(portable.data(), mean, 0.3f, /*vector_unit=*/false);
      ASSERT_EQ(std::memcmp(vector.data(), portable.data(), sizeof(vector)), 0)
          << "uniforms " << ::testing::PrintToString(block);
    }
  }
}

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
