// dropout and channel dropout (dropout1d/2d/3d) against PyTorch 1.13 on the CPU
// (tests/fixtures/dropout.json from make_dropout.py): after the same seed the same elements or
// channels drop and the kept ones are scaled by PyTorch's 1 / (1 - p) bit for bit (its float32
// division, which differs from the rounded double for p = 0.15, 0.45, 0.87, ...), with the
// gradient, in float32 and float64, on each device; the modules' reprs, PyTorch's errors and
// warnings' dimension rules; the YAML layers.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "framework/nn/models/builder.h"
#include "framework/nn/nn.h"
#include "framework/ops/ops.h"
#include "launch/config.h"
#include "tests/error_text.h"
#include "tests/golden_cases.h"

using namespace tandem;
using nlohmann::json;
using tandem::testing::error_text;

namespace {

const json& fixture() {
  static const json f = tandem::testing::load_fixture("dropout.json");
  return f;
}
const json& section(const char* key) { return tandem::testing::fixture_section(fixture(), key); }
const json& cases() { return section("cases"); }

Tensor call(const std::string& fn, const Tensor& x, double p, Generator& gen) {
  if (fn == "dropout1d") return dropout1d(x, p, true, gen);
  if (fn == "dropout2d") return dropout2d(x, p, true, gen);
  if (fn == "dropout3d") return dropout3d(x, p, true, gen);
  return dropout(x, p, true, gen);
}

class DropoutGolden : public tandem::testing::GoldenCaseTest {};

}  // namespace

TEST(DropoutGoldenFixture, HasCases) {
  ASSERT_TRUE(fixture().is_object()) << "tests/fixtures/dropout.json is missing or unreadable";
  EXPECT_EQ(cases().size(), 96u);
}

TEST_P(DropoutGolden, SameSeedDropsWhatPyTorchDrops) {
  const json& c = cases()[case_index()];
  const std::string name = c["name"];
  const DType dtype = c["dtype"] == "float32" ? DType::Float32 : DType::Float64;
  const Shape shape = c["shape"].get<Shape>();
  Tensor x = ones(shape, TensorOptions(dtype, device())).set_requires_grad(true);
  Generator gen(c["seed"].get<uint64_t>());  // torch.manual_seed(seed)
  const Tensor out = call(c["function"], x, c["p"].get<double>(), gen);
  EXPECT_EQ(out.sizes(), shape) << name;
  EXPECT_EQ(out.dtype(), dtype) << name;
  const Tensor v = (arange(out.numel(), TensorOptions(dtype, device())) / 7.0 + 1.0).reshape(shape);
  (out * v).sum().backward();
  EXPECT_EQ(out.detach().cpu().to_vector(), c["out"].get<std::vector<double>>()) << name;
  EXPECT_EQ(x.grad().cpu().to_vector(), c["grad"].get<std::vector<double>>()) << name;
}
TANDEM_INSTANTIATE_GOLDEN_TEST(DropoutGolden, tandem::testing::case_names(cases()));

TEST(DropoutModules, ReprsErrorsAndYamlLayers) {
  const json& r = section("reprs");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(nn::Dropout1d().repr(), r["dropout1d"].get<std::string>());
  EXPECT_EQ(nn::Dropout2d(0.3).repr(), r["dropout2d"].get<std::string>());
  EXPECT_EQ(nn::Dropout3d(0.2, true).repr(), r["dropout3d"].get<std::string>());
  const json& e = section("errors");
  EXPECT_EQ(error_text([] {
              dropout2d(ones({2, 3, 4, 4}), 1.5);
            }),
            e["dropout2d_p"].get<std::string>());
  EXPECT_EQ(error_text([] {
              dropout1d(ones({2, 3, 4, 4}), 0.5);
            }),
            e["dropout1d_dim"].get<std::string>());
  // PyTorch warns, and runs: a 2-D input to dropout3d is one sample of 2 channels.
  EXPECT_EQ(e["dropout3d_dim"].get<std::string>(), "<no error>");
  EXPECT_EQ(dropout3d(ones({2, 3}), 0.5).sizes(), (Shape{2, 3}));
  EXPECT_EQ(error_text([] { dropout2d(ones({5}), 0.5); }),
            "Feature dropout requires at least 2 dimensions in the input");
  // Eval mode, p == 0 and empty input return the input itself.
  const Tensor x = ones({2, 3, 2, 2});
  EXPECT_TRUE(dropout2d(x, 0.5, false).is_same(x));
  EXPECT_TRUE(dropout2d(x, 0.0).is_same(x));

  const launch::RunConfig cfg = launch::parse_config(R"(
model:
  name: sequential
  layers:
    - conv2d: {in_channels: 1, out_channels: 4, kernel_size: 3, padding: 1}
    - dropout2d: {p: 0.25}
    - dropout1d
    - dropout3d: {p: 0.1, inplace: true}
data: {dataset: synthetic}
)",
                                                     "dropout.yaml");
  Generator gen(0);
  const nn::ModulePtr model = nn::models::build_model(cfg.model, gen);
  EXPECT_EQ(model->repr(),
            "Sequential(\n  (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, "
            "1))\n  (1): Dropout2d(p=0.25, inplace=False)\n  (2): Dropout1d(p=0.5, "
            "inplace=False)\n  (3): Dropout3d(p=0.1, inplace=True)\n)");
}
