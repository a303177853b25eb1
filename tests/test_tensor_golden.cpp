// Factories and conversions against values produced by real PyTorch (tests/fixtures/tensor.json,
// made by tests/fixtures/make_tensor.py).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "framework/tensor/factories.h"
#include "tests/fixtures_dir.h"

using namespace tandem;
using nlohmann::json;

namespace {
json fixture() {
  std::ifstream f(tandem::testing::fixture_path("tensor.json"));
  return json::parse(f);
}
// A number, or "inf"/"-inf"/"nan" (JSON has no non-finite numbers).
double number(const json& j) {
  return j.is_string() ? std::stod(j.get<std::string>()) : j.get<double>();
}
}  // namespace

TEST(TensorGolden, RandpermMatchesTorch) {
  const json all = fixture();
  for (const auto& c : all.at("randperm")) {
    Generator gen(c["seed"].get<uint64_t>());
    std::vector<double> got = randperm(c["n"].get<int64_t>(), gen).to_vector();
    std::vector<double> want = c["perm"].get<std::vector<double>>();
    EXPECT_EQ(got, want) << "seed " << c["seed"];
  }
}

TEST(TensorGolden, RandMatchesTorchBitForBit) {
  const json all = fixture();
  for (const auto& c : all.at("rand")) {
    Generator gen(c["seed"].get<uint64_t>());
    const int64_t n = c["n"];
    EXPECT_EQ(rand({n}, gen).to_vector(), c["float32"].get<std::vector<double>>());
    EXPECT_EQ(rand({n}, gen, TensorOptions(DType::Float64)).to_vector(),
              c["float64"].get<std::vector<double>>());
  }
}

TEST(TensorGolden, RandnMatchesTorch) {
  // n >= 16 uses torch's normal_fill (same uniforms, Box-Muller in blocks of 16); torch's AVX2
  // build evaluates sin/cos/log with SLEEF, so values agree to float rounding, not bit for bit.
  // n < 16 uses the double Box-Muller with a cached second sample.
  const json all = fixture();
  for (const auto& c : all.at("randn")) {
    Generator gen(c["seed"].get<uint64_t>());
    const int64_t n = c["n"];
    std::vector<double> got = randn({n}, gen).to_vector();
    std::vector<double> want = c["float32"].get<std::vector<double>>();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], want[i], 1e-5 * (1 + std::abs(want[i])))
          << "seed " << c["seed"] << " i " << i;
  }
}

TEST(TensorGolden, HalfAndBFloat16ConversionsMatchTorch) {
  const json all = fixture();
  for (const char* name : {"float16", "bfloat16"}) {
    const auto& c = all[name];
    const DType dt = dtype_from_name(name);
    std::vector<double> in = c["in"].get<std::vector<double>>();
    std::vector<double> got =
        from_vector(in, {int64_t(in.size())}).to(dt).to(DType::Float64).to_vector();
    for (size_t i = 0; i < in.size(); ++i)
      EXPECT_EQ(got[i], number(c["out"][i])) << name << " of " << in[i];
  }
}
