// layer_norm / group_norm and nn::LayerNorm / nn::GroupNorm against PyTorch 1.13:
// tests/fixtures/norm.json (written by tests/fixtures/make_norm.py) gives forward outputs and the
// input, weight and bias gradients of (out * v).sum() in float32 and float64 (NormGolden, one
// test per case and device), and the modules' reprs and state_dict keys. Also: finite-difference
// gradients on both devices, PyTorch's error texts, the YAML layer types training a step, and
// the autocast policy (float32 on CUDA, the input's type on the CPU).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>  // nlohmann::json

#include "framework/nn/models/builder.h"
#include "framework/nn/nn.h"
#include "framework/ops/autocast.h"
#include "framework/ops/ops.h"
#include "framework/optim/sgd.h"
#include "framework/tensor/factories.h"
#include "launch/config.h"
#include "tests/device_compare.h"
#include "tests/error_text.h"
#include "tests/golden_cases.h"
#include "tests/gradcheck.h"

using namespace tandem;
using nlohmann::json;
using tandem::testing::error_text;

namespace {

const json& fixture() {
  static const json f = tandem::testing::load_fixture("norm.json");
  return f;
}

const json& cases() {
  static const json c = tandem::testing::fixture_cases("norm.json");
  return c;
}

// A fixture tensor (or an undefined one for null), made on the CPU and moved to `device`.
Tensor decode(const json& j, Device device) {
  if (j.is_null()) return {};
  const DType dt = j["dtype"] == "float64" ? DType::Float64 : DType::Float32;
  return from_vector(j["values"].get<std::vector<double>>(), j["shape"].get<Shape>(),
                     TensorOptions(dt))
      .to(device);
}

Tensor run_op(const json& c, const std::vector<Tensor>& in) {
  const json& p = c["params"];
  if (c["op"] == "layer_norm")
    return layer_norm(in[0], p["normalized_shape"].get<Shape>(), in[1], in[2], p["eps"]);
  return group_norm(in[0], p["num_groups"], in[1], in[2], p["eps"]);
}

void expect_close(const Tensor& got, const json& want, double rtol, double atol,
                  const std::string& what) {
  ASSERT_TRUE(got.defined()) << what;
  ASSERT_EQ(got.sizes(), want["shape"].get<Shape>()) << what;
  EXPECT_EQ(dtype_name(got.dtype()), want["dtype"].get<std::string>()) << what;
  const std::vector<double> g = got.cpu().to_vector();
  const std::vector<double> w = want["values"].get<std::vector<double>>();
  for (size_t i = 0; i < w.size(); ++i)
    EXPECT_LE(std::abs(g[i] - w[i]), atol + rtol * std::abs(w[i]))
        << what << " element " << i << ": got " << g[i] << ", want " << w[i];
}

}  // namespace

class NormGolden : public tandem::testing::GoldenCaseTest {};

TEST(NormGoldenFixture, HasCases) {
  EXPECT_GE(cases().size(), 40u) << "fixture norm.json";
  ASSERT_TRUE(fixture().is_object());
  EXPECT_EQ(fixture()["modules"].size(), 5u);
}

TEST_P(NormGolden, MatchesPyTorch) {
  const json& c = cases()[case_index()];
  const std::string name = c["name"];
  std::vector<Tensor> in;
  for (const json& j : c["inputs"]) {
    Tensor t = decode(j, device());
    if (t.defined()) t.set_requires_grad(true);
    in.push_back(t);
  }
  const Tensor out = run_op(c, in);
  EXPECT_EQ(out.device(), device());
  const bool f64 = c["output"]["dtype"] == "float64";
  // float32: PyTorch accumulates in float, tandem in double. A constant row (var = 0, rstd =
  // 1 / sqrt(eps) = 316) gives PyTorch's x * rstd - mean * rstd a cancellation error of about
  // 600 * 2^-24; tandem folds the terms in double and gives the bias exactly.
  const double atol32 = name == "layer_norm_constant_row" ? 1e-4 : 1e-5;
  expect_close(out, c["output"], f64 ? 1e-12 : 1e-5, f64 ? 1e-12 : atol32, name + " output");
  out.backward(decode(c["v"], device()));
  const char* what[] = {"input", "weight", "bias"};
  for (size_t k = 0; k < in.size(); ++k) {
    if (c["grads"][k].is_null()) continue;
    ASSERT_TRUE(in[k].grad().defined()) << name << " " << what[k] << " got no gradient";
    EXPECT_EQ(in[k].grad().device(), device());
    expect_close(in[k].grad(), c["grads"][k], f64 ? 1e-10 : 1e-4, f64 ? 1e-10 : 1e-4,
                 name + " grad " + what[k]);
  }
}

TANDEM_INSTANTIATE_GOLDEN_TEST(NormGolden, tandem::testing::case_names(cases()));

// --- modules ----------------------------------------------------------------------------------

namespace {

// The module the fixture's spec describes, built by the YAML builder (layer types `layernorm`
// and `groupnorm`) or by the constructors.
nn::ModulePtr from_spec(const json& s, bool through_builder) {
  if (through_builder) {
    Value args = Value::dict();
    for (const auto& [k, v] : s.items()) {
      if (k == "type") continue;
      if (v.is_array()) {
        Value l = Value::list();
        for (const json& e : v) l.append(Value(e.get<int64_t>()));
        args.set(Value(k), l);
      } else if (v.is_boolean()) {
        args.set(Value(k), Value(v.get<bool>()));
      } else if (v.is_number_integer()) {
        args.set(Value(k), Value(v.get<int64_t>()));
      } else {
        args.set(Value(k), Value(v.get<double>()));
      }
    }
    Value spec = Value::dict();
    spec.set(Value(s["type"].get<std::string>()), args);
    return nn::models::build_layer(spec);
  }
  if (s["type"] == "layernorm")
    return std::make_shared<nn::LayerNorm>(s["normalized_shape"].get<Shape>(), s["eps"],
                                           s["elementwise_affine"]);
  return std::make_shared<nn::GroupNorm>(s["num_groups"], s["num_channels"], s["eps"], s["affine"]);
}

}  // namespace

TEST(NormModules, ReprAndStateDictKeysMatchPyTorch) {
  ASSERT_TRUE(fixture().is_object());
  for (const json& m : fixture()["modules"])
    for (bool builder : {false, true}) {
      const nn::ModulePtr mod = from_spec(m["spec"], builder);
      EXPECT_EQ(mod->repr(), m["repr"].get<std::string>());
      const auto sd = mod->state_dict();
      ASSERT_EQ(sd.size(), m["keys"].size()) << m["repr"];
      size_t i = 0;
      for (const auto& [k, v] : sd) {
        EXPECT_EQ(k, m["keys"][i].get<std::string>());
        EXPECT_EQ(v.sizes(), m["shapes"][i].get<Shape>());
        // PyTorch's init: weight ones, bias zeros.
        EXPECT_EQ(v.sum().item(), k == "weight" ? double(v.numel()) : 0.0) << k;
        ++i;
      }
    }
}

TEST(NormModules, NormalizedShapeMayBeAnIntInYaml) {
  Value args = Value::dict();
  args.set(Value("normalized_shape"), Value(int64_t(6)));
  Value spec = Value::dict();
  spec.set(Value("layernorm"), args);
  EXPECT_EQ(nn::models::build_layer(spec)->repr(),
            "LayerNorm((6,), eps=1e-05, elementwise_affine=True)");
}

// A YAML run config with both layer types builds and one SGD step changes every parameter.
TEST(NormModules, YamlLayersBuildAndTrainAStep) {
  const launch::RunConfig cfg = launch::parse_config(R"(
model:
  name: sequential
  layers:
    - conv2d: {in_channels: 1, out_channels: 4, kernel_size: 3, padding: 1}
    - groupnorm: {num_groups: 2, num_channels: 4}
    - relu
    - layernorm: {normalized_shape: [4, 4], eps: 1.0e-6}
    - flatten
    - linear: {in_features: 64, out_features: 3}
data: {dataset: synthetic}
)",
                                                     "norm.yaml");
  Generator gen(0);
  const nn::ModulePtr model = nn::models::build_model(cfg.model, gen);
  const auto keys = model->state_dict();
  std::vector<std::string> names;
  for (const auto& [k, v] : keys) names.push_back(k);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "3.weight",
                                             "3.bias", "5.weight", "5.bias"}));
  std::vector<Tensor> params;
  std::vector<Tensor> before;
  for (const auto& [k, p] : model->named_parameters()) {
    params.push_back(p);
    before.push_back(p.detach().clone());
  }
  optim::SgdOptions o;
  o.lr = 0.1;
  optim::SGD opt(params, o);
  const Tensor x = randn({2, 1, 4, 4}, gen);
  const Tensor target = from_vector(std::vector<int64_t>{0, 2}, {2});
  const Tensor loss = cross_entropy(model->forward(x), target);
  EXPECT_TRUE(std::isfinite(loss.item()));
  loss.backward();
  opt.step();
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_GT((params[i].detach() - before[i]).abs().sum().item(), 0) << names[i];
}

// --- finite differences, on both devices --------------------------------------------------------

class NormOnDevice : public tandem::testing::DeviceTest {};

TEST_P(NormOnDevice, GradcheckLayerNorm) {
  Generator gen(3);
  auto leaf = [&](Shape s, double scale) {
    Tensor t = (randn(s, gen, TensorOptions(DType::Float64)) * scale + 0.5).to(device());
    t.set_requires_grad(true);
    return t;
  };
  const Tensor x = leaf({2, 3, 4}, 2), w = leaf({3, 4}, 1), b = leaf({3, 4}, 1);
  EXPECT_TRUE(tandem::testing::gradcheck(
      [](const autograd::TensorList& t) {
        return layer_norm(t[0], {3, 4}, t[1], t[2]);
      },
      {x, w, b}));
  EXPECT_TRUE(tandem::testing::gradcheck(
      [](const autograd::TensorList& t) { return layer_norm(t[0], {4}); }, {x}));
}

TEST_P(NormOnDevice, GradcheckGroupNorm) {
  Generator gen(4);
  auto leaf = [&](Shape s) {
    Tensor t = (randn(s, gen, TensorOptions(DType::Float64)) + 0.25).to(device());
    t.set_requires_grad(true);
    return t;
  };
  const Tensor x = leaf({2, 6, 3, 2}), w = leaf({6}), b = leaf({6});
  for (int64_t groups : {1, 2, 6})
    EXPECT_TRUE(tandem::testing::gradcheck(
        [groups](const autograd::TensorList& t) { return group_norm(t[0], groups, t[1], t[2]); },
        {x, w, b}))
        << groups << " groups";
  EXPECT_TRUE(tandem::testing::gradcheck(
      [](const autograd::TensorList& t) { return group_norm(t[0], 3); }, {x}));
}

// Larger than the golden cases (rows of several hundred elements, many channels): the device
// gives the CPU's values (its bits on the emulated device).
TEST_P(NormOnDevice, MatchesCpuOnLargerInputs) {
  Generator gen(5);
  const Tensor x = randn({4, 32, 7, 9}, gen) * 3 + 1, w = randn({32}, gen), b = randn({32}, gen);
  const Tensor lw = randn({7, 9}, gen), lb = randn({7, 9}, gen);
  const Tensor gy = randn({4, 32, 7, 9}, gen);
  auto run = [&](Device d, bool group) {
    Tensor xd = x.detach().to(d), wd = (group ? w : lw).detach().to(d),
           bd = (group ? b : lb).detach().to(d);
    for (Tensor* t : {&xd, &wd, &bd}) t->set_requires_grad(true);
    const Tensor y = group ? group_norm(xd, 8, wd, bd) : layer_norm(xd, {7, 9}, wd, bd);
    y.backward(gy.to(d));
    return std::vector<Tensor>{y, xd.grad(), wd.grad(), bd.grad()};
  };
  for (bool group : {true, false}) {
    const auto ref = run(kCPU, group), got = run(device(), group);
    const char* what[] = {"y", "grad x", "grad w", "grad b"};
    for (size_t k = 0; k < ref.size(); ++k)
      EXPECT_TRUE(tandem::testing::matches_cpu(
          got[k], ref[k], device(), std::string(group ? "group_norm " : "layer_norm ") + what[k]));
  }
}

// float16/bfloat16 inputs run in float32 (staged) and round once.
TEST_P(NormOnDevice, HalfInputsMatchFloat) {
  Generator gen(6);
  const Tensor x = randn({3, 4, 5}, gen), w = randn({4}, gen), b = randn({4}, gen);
  for (DType dt : {DType::BFloat16, DType::Float16}) {
    const Tensor xh = x.to(dt);
    const Tensor y = group_norm(xh.to(device()), 2, w.to(dt).to(device()), b.to(dt).to(device()));
    EXPECT_EQ(y.dtype(), dt);
    const Tensor ref = group_norm(xh.to(DType::Float32), 2, w.to(dt).to(DType::Float32),
                                  b.to(dt).to(DType::Float32));
    EXPECT_LE((y.cpu().to(DType::Float32) - ref).abs().max().item(), 2e-2) << dtype_name(dt);
  }
}

// PyTorch's autocast: layer_norm and group_norm in float32 on CUDA, in the input's type on the
// CPU (1.13's CPU lists leave them out).
TEST_P(NormOnDevice, AutocastPolicy) {
  const bool cuda = !device().is_cpu();
  const DType low = DType::BFloat16;
  EXPECT_EQ(autocast::policy(device().type, autocast::OpClass::Normalization),
            cuda ? autocast::Cast::Float32 : autocast::Cast::Keep);
  Generator gen(7);
  const Tensor x = randn({2, 4, 3}, gen).to(low).to(device());
  const Tensor w = ones({4}).to(device()), b = zeros({4}).to(device());
  autocast::AutocastGuard amp(device().type, low);
  EXPECT_EQ(group_norm(x, 2, cuda ? w : w.to(low), cuda ? b : b.to(low)).dtype(),
            cuda ? DType::Float32 : low);
  EXPECT_EQ(layer_norm(x, {3}).dtype(), cuda ? DType::Float32 : low);
}

TANDEM_INSTANTIATE_DEVICE_TEST(NormOnDevice);

// --- PyTorch's error texts -----------------------------------------------------------------------

TEST(NormErrors, LayerNormTexts) {
  const Tensor x = zeros({2, 3});
  EXPECT_EQ(error_text([&] { layer_norm(x, {4}); }),
            "Given normalized_shape=[4], expected input with shape [*, 4], but got input of "
            "size[2, 3]");
  EXPECT_EQ(error_text([&] {
              layer_norm(zeros({4}), {2, 4});
            }),
            "Given normalized_shape=[2, 4], expected input with shape [*, 2, 4], but got input of "
            "size[4]");
  EXPECT_EQ(error_text([&] { layer_norm(x, {}); }),
            "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one "
            "element, but got normalized_shape = []");
  EXPECT_EQ(error_text([&] { layer_norm(x, {3}, ones({4})); }),
            "Expected weight to be of same shape as normalized_shape, but got weight of shape [4] "
            "and normalized_shape = [3]");
  EXPECT_EQ(error_text([&] { layer_norm(x, {3}, {}, ones({2})); }),
            "Expected bias to be of same shape as normalized_shape, but got bias of shape [2] and "
            "normalized_shape = [3]");
}

TEST(NormErrors, GroupNormTexts) {
  const Tensor x = zeros({2, 8, 3});
  EXPECT_EQ(error_text([] { nn::GroupNorm(3, 8); }),
            "num_channels must be divisible by num_groups");
  EXPECT_EQ(error_text([&] { group_norm(x, 3); }),
            "Expected number of channels in input to be divisible by num_groups, but got input of "
            "shape [2, 8, 3] and num_groups=3");
  EXPECT_EQ(error_text([&] { group_norm(x, 2, ones({3})); }),
            "Expected weight to be a vector of size equal to the number of channels in input, but "
            "got weight of shape [3] and input of shape [2, 8, 3]");
  EXPECT_EQ(error_text([&] { group_norm(x, 2, {}, ones({3})); }),
            "Expected bias to be a vector of size equal to the number of channels in input, but "
            "got bias of shape [3] and input of shape [2, 8, 3]");
  EXPECT_EQ(error_text([&] {
              group_norm(zeros({1, 2}), 2);
            }),
            "Expected more than 1 value per channel when training, got input size [1, 2]");
  EXPECT_EQ(error_text([&] { group_norm(x, 0); }),
            "Expected num groups to be greater than 0, got 0");
  EXPECT_EQ(error_text([&] { group_norm(zeros({8}), 2); }),
            "Expected at least 2 dimensions for input tensor but received 1");
}
