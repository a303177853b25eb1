// pad (constant, reflect, replicate, circular): forward and gradients against PyTorch 1.13
// (tests/fixtures/pad.json from make_pad.py; PadGolden.MatchesPyTorch/reflect_2d_cuda), the
// errors users meet with PyTorch's text, gradients against finite differences, and the U-Net's
// Up block, which pads with it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "framework/ops/ops.h"
#include "tests/device_test.h"
#include "tests/error_text.h"
#include "tests/golden_cases.h"
#include "tests/gradcheck.h"

using namespace tandem;
using autograd::TensorList;
using nlohmann::json;
using tandem::testing::gradcheck;
using tandem::testing::leaf;

namespace {

const json& fixture() {
  static const json f = tandem::testing::load_fixture("pad.json");
  return f;
}
const json& cases() {
  static const json c = fixture().is_object() ? fixture()["cases"] : json::array();
  return c;
}

DType dtype_of_name(const std::string& name) {
  return name == "int64" ? DType::Int64 : DType::Float64;
}

std::optional<double> value_of(const json& c) {
  return c["value"].is_null() ? std::nullopt : std::optional<double>(c["value"].get<double>());
}

class PadGolden : public tandem::testing::GoldenCaseTest {};
class PadOnDevice : public tandem::testing::DeviceTest {};

}  // namespace

TEST(PadGoldenFixture, HasCasesAndErrors) {
  ASSERT_TRUE(fixture().is_object()) << "tests/fixtures/pad.json is missing or unreadable";
  EXPECT_EQ(cases().size(), 19u);
  EXPECT_EQ(fixture()["errors"].size(), 9u);
}

TEST_P(PadGolden, MatchesPyTorch) {
  const json& c = cases()[case_index()];
  const std::string name = c["name"];
  const DType dtype = dtype_of_name(c["dtype"]);
  Tensor x = from_vector(c["input"].get<std::vector<double>>(), c["shape"].get<Shape>(),
                         TensorOptions(DType::Float64))
                 .to(device(), dtype);
  if (is_floating(dtype)) x.set_requires_grad(true);
  Tensor out = pad(x, c["pads"].get<std::vector<int64_t>>(), c["mode"], value_of(c));
  EXPECT_EQ(out.sizes(), c["out_shape"].get<Shape>()) << name;
  EXPECT_EQ(out.device(), device());
  EXPECT_EQ(out.dtype(), dtype);
  // Padding moves values: they are PyTorch's exactly.
  EXPECT_EQ(out.cpu().to_vector(), c["out"].get<std::vector<double>>()) << name;
  if (!c.contains("grad")) return;
  Tensor v =
      from_vector(c["v"].get<std::vector<double>>(), out.sizes(), TensorOptions(DType::Float64))
          .to(device());
  (out * v).sum().backward();
  ASSERT_TRUE(x.grad().defined()) << name;
  EXPECT_EQ(x.grad().device(), device());
  const std::vector<double> got = x.grad().cpu().to_vector();
  const std::vector<double> want = c["grad"].get<std::vector<double>>();
  ASSERT_EQ(got.size(), want.size()) << name;
  for (size_t i = 0; i < got.size(); ++i)  // sums of up to 4 copies, in either order
    EXPECT_NEAR(got[i], want[i], 1e-12) << name << " grad element " << i;
}
TANDEM_INSTANTIATE_GOLDEN_TEST(PadGolden, tandem::testing::case_names(cases()));

TEST(Pad, ErrorsAreTorchs) {
  ASSERT_TRUE(fixture().is_object());
  for (const json& e : fixture()["errors"]) {
    // PyTorch's own texts differ in what follows "of input" (a shape or a size) between 1-D and
    // 2-D reflection; tandem always names the shape.
    std::string want = e["error"];
    want = want.substr(0, want.find(" of input"));
    try {
      pad(zeros(e["shape"].get<Shape>()), e["pads"].get<std::vector<int64_t>>(), e["mode"],
          e["value"].is_null() ? std::nullopt : std::optional<double>(e["value"].get<double>()));
      ADD_FAILURE() << "no error for " << e.dump();
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find(want), std::string::npos)
          << "got: " << err.what() << "\nwant: " << want;
    }
  }
  EXPECT_TRUE(tandem::testing::throws_with(
      [] {
        pad(zeros({2, 3}), {-3, -1});
      },
      "The input size 3, plus negative padding -3 and -1 resulted in a negative output size"));
  EXPECT_TRUE(tandem::testing::throws_with(
      [] {
        pad(zeros({2, 3}), {-2, -1}, "replicate");
      },
      "input (W: 3) is too small. Calculated output W: 0"));
}

TEST_P(PadOnDevice, GradientsMatchFiniteDifferences) {
  for (const char* mode : {"constant", "reflect", "replicate", "circular"}) {
    Tensor x = leaf({2, 3, 4}, 3, 1.0, device());
    EXPECT_TRUE(gradcheck(
        [mode](const TensorList& in) {
          return pad(in[0], {2, -1, 1, 2}, mode);
        },
        {x}))
        << mode;
  }
}

TEST_P(PadOnDevice, NoPaddingIsTheInput) {
  Tensor x = leaf({2, 3}, 1, 1.0, device());
  EXPECT_TRUE(equal(pad(x, {}), x));
  EXPECT_TRUE(equal(pad(x, {0, 0}, "reflect"), x));
}
TANDEM_INSTANTIATE_DEVICE_TEST(PadOnDevice);
