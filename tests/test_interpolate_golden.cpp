// interpolate's bicubic, nearest-exact and area modes, per-axis and non-integral scale factors
// and recompute_scale_factor: forward and gradients against PyTorch 1.13
// (tests/fixtures/interpolate.json from make_interpolate.py;
// InterpolateGolden.MatchesPyTorch/bicubic_up_ac_cuda), PyTorch's error texts and nn.Upsample
// reprs, gradients against finite differences on every device, the model builder's upsample
// arguments, and the new modes' shared arithmetic (kernels/common/upsample_functors.h): the
// gather form of each backward, as a GPU thread computes it, equals the CPU's scatter bit for
// bit, and the "which outputs read this input" ranges are exactly the brute-force sets.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "framework/nn/models/builder.h"
#include "framework/nn/nn.h"
#include "framework/ops/ops.h"
#include "kernels/common/upsample_functors.h"
#include "kernels/kernel_table.h"
#include "tests/device_test.h"
#include "tests/error_text.h"
#include "tests/golden_cases.h"
#include "tests/gradcheck.h"

using namespace tandem;
using autograd::TensorList;
using nlohmann::json;
using tandem::testing::gradcheck;
using tandem::testing::leaf;
namespace k = tandem::kernels;

namespace {

const json& fixture() {
  static const json f = tandem::testing::load_fixture("interpolate.json");
  return f;
}
const json& cases() {
  static const json c = fixture().is_object() ? fixture()["cases"] : json::array();
  return c;
}

template <typename T>
std::optional<T> optional_of(const json& j) {
  return j.is_null() ? std::nullopt : std::optional<T>(j.get<T>());
}

std::optional<Pair> size_of(const json& c) {
  if (c["size"].is_null()) return std::nullopt;
  return Pair{c["size"][0].get<int64_t>(), c["size"][1].get<int64_t>()};
}
std::optional<UpsampleScale> scale_of(const json& c) {
  if (c["scale_factor"].is_null()) return std::nullopt;
  return UpsampleScale{c["scale_factor"][0].get<double>(), c["scale_factor"][1].get<double>()};
}

Tensor interpolate_case(const Tensor& x, const json& c) {
  return interpolate(x, size_of(c), scale_of(c), c["mode"], optional_of<bool>(c["align_corners"]),
                     optional_of<bool>(c["recompute_scale_factor"]));
}

class InterpolateGolden : public tandem::testing::GoldenCaseTest {};
class InterpolateOnDevice : public tandem::testing::DeviceTest {};

}  // namespace

TEST(InterpolateGoldenFixture, HasCasesErrorsAndReprs) {
  ASSERT_TRUE(fixture().is_object()) << "tests/fixtures/interpolate.json is missing or unreadable";
  EXPECT_EQ(cases().size(), 34u);
  EXPECT_EQ(fixture()["errors"].size(), 11u);
  EXPECT_EQ(fixture()["reprs"].size(), 6u);
}

TEST_P(InterpolateGolden, MatchesPyTorch) {
  const json& c = cases()[case_index()];
  const std::string name = c["name"];
  const DType dtype = c["dtype"] == "float32" ? DType::Float32 : DType::Float64;
  Tensor x = from_vector(c["input"].get<std::vector<double>>(), c["shape"].get<Shape>(),
                         TensorOptions(DType::Float64))
                 .to(device(), dtype)
                 .set_requires_grad(true);
  Tensor out = interpolate_case(x, c);
  ASSERT_EQ(out.sizes(), c["out_shape"].get<Shape>()) << name;
  EXPECT_EQ(out.device(), device());
  EXPECT_EQ(out.dtype(), dtype);
  // tandem weighs in double and rounds once; PyTorch computes float32 inputs in float.
  const double tol = dtype == DType::Float32 ? 2e-6 : 1e-13;
  const std::vector<double> got = out.cpu().to_vector();
  const std::vector<double> want = c["out"].get<std::vector<double>>();
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << name << " element " << i;
  Tensor v =
      from_vector(c["v"].get<std::vector<double>>(), out.sizes(), TensorOptions(DType::Float64))
          .to(device(), dtype);
  (out * v).sum().backward();
  ASSERT_TRUE(x.grad().defined()) << name;
  EXPECT_EQ(x.grad().device(), device());
  const std::vector<double> grad = x.grad().cpu().to_vector();
  const std::vector<double> want_grad = c["grad"].get<std::vector<double>>();
  ASSERT_EQ(grad.size(), want_grad.size()) << name;
  for (size_t i = 0; i < grad.size(); ++i)  // sums of many products, in another order
    EXPECT_NEAR(grad[i], want_grad[i], 4 * tol * (1 + std::abs(want_grad[i])))
        << name << " grad element " << i;
}
TANDEM_INSTANTIATE_GOLDEN_TEST(InterpolateGolden, tandem::testing::case_names(cases()));

TEST(Interpolate, ErrorsAreTorchs) {
  ASSERT_TRUE(fixture().is_object());
  for (const json& e : fixture()["errors"]) {
    std::optional<Pair> size;
    if (!e["size"].is_null()) size = Pair{e["size"][0].get<int64_t>(), e["size"][1].get<int64_t>()};
    std::optional<UpsampleScale> scale;
    if (!e["scale_factor"].is_null())
      scale = UpsampleScale{e["scale_factor"][0].get<double>(), e["scale_factor"][1].get<double>()};
    EXPECT_TRUE(tandem::testing::throws_with(
        [&] {
          interpolate(zeros(e["shape"].get<Shape>()), size, scale, e["mode"],
                      optional_of<bool>(e["align_corners"]),
                      optional_of<bool>(e["recompute_scale_factor"]));
        },
        e["error"].get<std::string>()))
        << e.dump();
  }
}

TEST(Interpolate, UpsampleReprsAreTorchs) {
  ASSERT_TRUE(fixture().is_object());
  const json& r = fixture()["reprs"];
  auto repr = [](nn::UpsampleOptions o) { return nn::Upsample(o).repr(); };
  nn::UpsampleOptions o;
  o.scale_factor = nn::Scale2(2, 3);
  o.mode = "bicubic";
  EXPECT_EQ(repr(o), r["pair_bicubic"].get<std::string>());
  o.scale_factor = nn::Scale2(1.5, 2.0);
  o.mode = "bilinear";
  o.align_corners = true;
  EXPECT_EQ(repr(o), r["pair_ac"].get<std::string>());
  o = {};
  o.scale_factor = 2;
  o.mode = "nearest-exact";
  EXPECT_EQ(repr(o), r["nearest_exact"].get<std::string>());
  o = {};
  o.size = nn::Size2(2, 3);
  o.mode = "area";
  EXPECT_EQ(repr(o), r["area_size"].get<std::string>());
  o = {};
  o.size = 5;
  o.mode = "bicubic";
  o.align_corners = true;
  EXPECT_EQ(repr(o), r["bicubic_size_int"].get<std::string>());
  o = {};
  o.scale_factor = 0.5;
  o.mode = "bilinear";
  o.recompute_scale_factor = true;
  EXPECT_EQ(repr(o), r["recompute"].get<std::string>());
}

// nn.Upsample with a pair of scale factors and recompute_scale_factor is interpolate's.
TEST(Interpolate, UpsampleModuleForwardsEveryArgument) {
  Tensor x = leaf({1, 2, 3, 4}, 5);
  nn::UpsampleOptions o;
  o.scale_factor = nn::Scale2(1.7, 2.3);
  o.mode = "bicubic";
  EXPECT_TRUE(equal(nn::Upsample(o)(x), interpolate(x, {}, UpsampleScale{1.7, 2.3}, "bicubic")));
  o.recompute_scale_factor = true;
  EXPECT_TRUE(equal(nn::Upsample(o)(x), interpolate(x, Pair{5, 9}, {}, "bicubic")));
  EXPECT_FALSE(equal(interpolate(x, {}, UpsampleScale{1.7, 2.3}, "bicubic"),
                     interpolate(x, Pair{5, 9}, {}, "bicubic")));
}

// A YAML layer `upsample: {scale_factor: [2, 1.5], mode: bicubic, recompute_scale_factor: true}`.
TEST(Interpolate, BuilderTakesAPairOfScaleFactors) {
  Value args = Value::dict();
  Value sf = Value::list();
  sf.append(Value(int64_t(2)));
  sf.append(Value(1.5));
  args.set(Value("scale_factor"), sf);
  args.set(Value("mode"), Value("bicubic"));
  args.set(Value("recompute_scale_factor"), Value(true));
  Value layer = Value::dict();
  layer.set(Value("upsample"), args);
  Value layers = Value::list();
  layers.append(layer);
  Value spec = Value::dict();
  spec.set(Value("name"), Value("sequential"));
  spec.set(Value("layers"), layers);
  nn::ModulePtr m = nn::models::build_model(spec);
  const auto* up = dynamic_cast<const nn::Upsample*>(m->named_children()[0].second.get());
  ASSERT_NE(up, nullptr);
  EXPECT_EQ(up->repr(), "Upsample(scale_factor=(2.0, 1.5), mode=bicubic)");
  EXPECT_EQ(up->options.recompute_scale_factor, std::optional<bool>(true));
  Value bad = Value::list();
  bad.append(Value(2.0));
  args.set(Value("scale_factor"), bad);
  EXPECT_TRUE(tandem::testing::throws_with([&] { nn::models::build_model(spec); },
                                           "expected a number or a pair of numbers"));
}

TEST_P(InterpolateOnDevice, GradientsMatchFiniteDifferences) {
  Tensor x = leaf({2, 2, 4, 5}, 3, device());
  struct Case {
    const char* mode;
    std::optional<bool> align_corners;
    std::optional<Pair> size;
    std::optional<UpsampleScale> scale;
  };
  const Case all[] = {
      {"bicubic", false, Pair{7, 3}, {}},
      {"bicubic", true, Pair{7, 3}, {}},
      {"bicubic", false, {}, UpsampleScale{1.7, 0.6}},
      {"bicubic", true, Pair{1, 2}, {}},
      {"nearest-exact", {}, {}, UpsampleScale{1.7, 0.6}},
      {"nearest-exact", {}, Pair{9, 3}, {}},
      {"area", {}, Pair{3, 7}, {}},
  };
  for (const Case& c : all)
    EXPECT_TRUE(gradcheck(
        [&](const TensorList& in) {
          return interpolate(in[0], c.size, c.scale, c.mode, c.align_corners);
        },
        {x}))
        << c.mode;
}
TANDEM_INSTANTIATE_DEVICE_TEST(InterpolateOnDevice);

// --- the shared arithmetic, on the CPU ---------------------------------------------------------

namespace {

const k::KernelContext kCpuContext{kCPU, nullptr};

template <typename T>
k::Buffer buf(std::vector<T>& v) {
  return {v.data(), dtype_of<T>::value};
}

// Geometries as framework/ops/upsample.cpp makes them, from output sizes (scale in/out, or
// (in-1)/(out-1) with align_corners) and from scale factors (1/factor), nearest-exact's scales
// in float.
std::vector<k::UpsampleGeometry> sweep(bool cubic) {
  std::vector<k::UpsampleGeometry> out;
  auto scale = [&](int64_t in, int64_t o, double factor, bool ac) {
    if (ac) return o > 1 ? double(in - 1) / double(o - 1) : 0.0;
    const double s = factor > 0 ? 1.0 / factor : double(in) / double(o);
    return cubic ? s : double(float(s));
  };
  for (bool ac : cubic ? std::vector<bool>{false, true} : std::vector<bool>{false}) {
    for (int64_t in : {1, 2, 3, 4, 5, 7})
      for (int64_t o : {1, 2, 3, 4, 7, 9, 16})
        out.push_back({2, in, 8 - in % 4, o, 3 + o % 5, scale(in, o, 0, ac),
                       scale(8 - in % 4, 3 + o % 5, 0, ac), ac});
    for (int64_t in : {3, 5, 6})
      for (double f : {0.3, 0.6, 1.1, 1.7, 2.0, 3.0, 4.5}) {
        const int64_t oh = int64_t(std::floor(double(in) * f));
        const int64_t ow = int64_t(std::floor(double(in + 1) * f));
        if (oh > 0 && ow > 0)
          out.push_back(
              {2, in, in + 1, oh, ow, scale(in, oh, f, ac), scale(in + 1, ow, f, ac), ac});
      }
  }
  return out;
}

std::string describe(const k::UpsampleGeometry& g) {
  return detail::concat(g.in_h, "x", g.in_w, " -> ", g.out_h, "x", g.out_w, " scale ", g.scale_h,
                        ",", g.scale_w, g.align_corners ? " align_corners" : "");
}

template <typename T>
void expect_same_bits(const std::vector<T>& got, const std::vector<T>& want,
                      const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(std::memcmp(&got[i], &want[i], sizeof(T)), 0)
        << what << " at " << i << ": " << got[i] << " vs " << want[i];
}

// The CPU kernels of one mode against its per-output and per-input functors (the CUDA kernels'
// bodies): forward and backward bit for bit.
template <typename T, bool Cubic>
void check_mode(const k::UpsampleGeometry& g, std::mt19937& rng) {
  const int64_t n_in = g.planes * g.in_h * g.in_w, n_out = g.planes * g.out_h * g.out_w;
  std::uniform_real_distribution<double> d(-1, 1);
  auto random = [&](int64_t n) {
    std::vector<T> v(static_cast<size_t>(n));
    for (T& x : v) x = T(d(rng));
    return v;
  };
  std::vector<T> in = random(n_in), out(static_cast<size_t>(n_out)), out2(out);
  (Cubic ? k::upsample_bicubic2d_forward : k::upsample_nearest_exact2d_forward)(kCpuContext, g,
                                                                                buf(in), buf(out));
  for (int64_t o = 0; o < n_out; ++o) {
    const int64_t p = o / (g.out_h * g.out_w), oh = (o / g.out_w) % g.out_h, ow = o % g.out_w;
    const T* plane = in.data() + p * g.in_h * g.in_w;
    out2[size_t(o)] = Cubic ? k::upsample_bicubic_at(plane, g, oh, ow)
                            : k::upsample_nearest_exact_at(plane, g, oh, ow);
  }
  expect_same_bits(out2, out, "forward");
  std::vector<T> go = random(n_out), scattered(static_cast<size_t>(n_in), T(0));
  std::vector<T> gathered(scattered);
  (Cubic ? k::upsample_bicubic2d_backward : k::upsample_nearest_exact2d_backward)(
      kCpuContext, g, buf(go), buf(scattered));
  for (int64_t p = 0; p < g.planes; ++p)
    for (int64_t ih = 0; ih < g.in_h; ++ih)
      for (int64_t iw = 0; iw < g.in_w; ++iw) {
        const T* plane = go.data() + p * g.out_h * g.out_w;
        gathered[size_t((p * g.in_h + ih) * g.in_w + iw)] =
            Cubic ? k::upsample_bicubic_grad_at(plane, g, ih, iw)
                  : k::upsample_nearest_exact_grad_at(plane, g, ih, iw);
      }
  expect_same_bits(gathered, scattered, "backward");
}

}  // namespace

TEST(InterpolateFunctors, OutputRangesAreExactlyTheOutputsReadingAnInput) {
  for (bool cubic : {false, true})
    for (const k::UpsampleGeometry& g : sweep(cubic)) {
      SCOPED_TRACE(describe(g));
      for (int64_t i = 0; i < g.in_h; ++i) {
        const k::IndexRange r =
            cubic ? k::cubic_outputs_of(i, g.in_h, g.out_h, g.scale_h, g.align_corners)
                  : k::nearest_exact_outputs_of(i, g.in_h, g.out_h, g.scale_h);
        for (int64_t o = 0; o < g.out_h; ++o) {
          bool reads = false;
          if (cubic) {
            const k::CubicTaps t = k::cubic_taps(o, g.in_h, g.scale_h, g.align_corners);
            for (int64_t tap : t.i) reads = reads || tap == i;
          } else {
            reads = k::nearest_exact_source(o, g.in_h, g.scale_h) == i;
          }
          EXPECT_EQ(reads, o >= r.begin && o < r.end)
              << (cubic ? "bicubic" : "nearest-exact") << " i " << i << " o " << o;
        }
      }
    }
}

TEST(InterpolateFunctors, NearestExactAndGatherEqualTheCpuKernels) {
  std::mt19937 rng(10);
  for (const k::UpsampleGeometry& g : sweep(false)) {
    SCOPED_TRACE(describe(g));
    check_mode<float, false>(g, rng);
    check_mode<double, false>(g, rng);
  }
}

TEST(InterpolateFunctors, BicubicAndGatherEqualTheCpuKernels) {
  std::mt19937 rng(11);
  for (const k::UpsampleGeometry& g : sweep(true)) {
    SCOPED_TRACE(describe(g));
    check_mode<float, true>(g, rng);
    check_mode<double, true>(g, rng);
  }
}

// The cubic weights of every output sum to 1 (the interpolation reproduces a constant), and a
// border pixel read by several clamped taps takes all their weights: the gradient of a sum is
// the count each input is used with its weights, 1 per output overall.
TEST(InterpolateFunctors, CubicWeightsSumToOneAndClampedTapsAddUp) {
  for (const k::UpsampleGeometry& g : sweep(true)) {
    SCOPED_TRACE(describe(g));
    for (int64_t o = 0; o < g.out_h; ++o) {
      const k::CubicTaps t = k::cubic_taps(o, g.in_h, g.scale_h, g.align_corners);
      EXPECT_NEAR(t.w[0] + t.w[1] + t.w[2] + t.w[3], 1.0, 1e-12);
    }
    std::vector<double> ones(static_cast<size_t>(g.planes * g.out_h * g.out_w), 1.0);
    std::vector<double> gi(static_cast<size_t>(g.planes * g.in_h * g.in_w), 0.0);
    k::upsample_bicubic2d_backward(kCpuContext, g, buf(ones), buf(gi));
    double total = 0;
    for (double v : gi) total += v;
    EXPECT_NEAR(total, double(g.planes * g.out_h * g.out_w), 1e-9);
  }
}
