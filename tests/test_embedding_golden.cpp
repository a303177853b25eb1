// embedding and nn::Embedding against PyTorch 1.13 (tests/fixtures/embedding.json from
// make_embedding.py): outputs and the weight's gradient with repeated indices, padding_idx,
// scale_grad_by_freq and max_norm (the weight renormalised in place), int32, 0-d, empty and 3-D
// indices, on each device; the gradient against finite differences; nn.Embedding's init after a
// seed, reprs, from_pretrained and state_dict keys; PyTorch's errors; the YAML layer.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "framework/nn/models/builder.h"
#include "framework/nn/nn.h"
#include "framework/ops/ops.h"
#include "framework/tensor/random_fill.h"
#include "launch/config.h"
#include "tests/device_test.h"
#include "tests/error_text.h"
#include "tests/golden_cases.h"
#include "tests/gradcheck.h"

using namespace tandem;
using autograd::TensorList;
using nlohmann::json;
using tandem::testing::error_text;
using tandem::testing::gradcheck;

namespace {

const json& fixture() {
  static const json f = tandem::testing::load_fixture("embedding.json");
  return f;
}
const json& section(const char* key) { return tandem::testing::fixture_section(fixture(), key); }
const json& cases() { return section("cases"); }

Shape shape_of(const json& t) { return t["shape"].get<Shape>(); }

Tensor tensor_of(const json& t, Device device, DType dtype) {
  return from_vector(t["values"].get<std::vector<double>>(), shape_of(t),
                     TensorOptions(DType::Float64))
      .to(device, dtype);
}

Tensor indices_of(const json& t, Device device) {
  const std::vector<int64_t> values = t["values"].get<std::vector<int64_t>>();
  const DType dtype = t["dtype"] == "int32" ? DType::Int32 : DType::Int64;
  return from_vector(values, shape_of(t)).to(device, dtype);
}

// Within a few ulps of the largest term (float32), to rounding (float64): max_norm's factors come
// from a norm PyTorch sums in its own order.
void expect_close(const Tensor& got_t, const json& want_j, DType dtype, const std::string& what) {
  ASSERT_TRUE(got_t.defined()) << what;
  EXPECT_EQ(got_t.sizes(), shape_of(want_j)) << what;
  const std::vector<double> got = got_t.detach().cpu().to(DType::Float64).to_vector();
  const std::vector<double> want = want_j["values"].get<std::vector<double>>();
  ASSERT_EQ(got.size(), want.size()) << what;
  const double tol = dtype == DType::Float64 ? 1e-14 : 1e-6;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << what << "[" << i << "]";
}

class EmbeddingGolden : public tandem::testing::GoldenCaseTest {};
class EmbeddingOnDevice : public tandem::testing::DeviceTest {};

}  // namespace

TEST(EmbeddingGoldenFixture, HasCases) {
  ASSERT_TRUE(fixture().is_object()) << "tests/fixtures/embedding.json is missing or unreadable";
  EXPECT_EQ(cases().size(), 19u);
  EXPECT_EQ(section("modules").size(), 4u);
}

TEST_P(EmbeddingGolden, MatchesPyTorch) {
  const json& c = cases()[case_index()];
  const std::string name = c["name"];
  const DType dtype = c["dtype"] == "float32" ? DType::Float32 : DType::Float64;
  Tensor w = tensor_of(c["weight"], device(), dtype).set_requires_grad(true);
  const Tensor idx = indices_of(c["indices"], device());
  std::optional<int64_t> padding_idx;
  if (c.contains("padding_idx")) padding_idx = c["padding_idx"].get<int64_t>();
  std::optional<double> max_norm;
  if (c.contains("max_norm")) max_norm = c["max_norm"].get<double>();
  const Tensor out = embedding(idx, w, padding_idx, max_norm, c["norm_type"].get<double>(),
                               c["scale_grad_by_freq"].get<bool>());
  EXPECT_EQ(out.dtype(), dtype) << name;
  EXPECT_EQ(out.device(), device()) << name;
  (out * tensor_of(c["v"], device(), dtype)).sum().backward();
  expect_close(out, c["out"], dtype, name + " output");
  expect_close(w.grad(), c["grad_weight"], dtype, name + " weight gradient");
  expect_close(w, c["weight_after"], dtype, name + " weight after max_norm");
}
TANDEM_INSTANTIATE_GOLDEN_TEST(EmbeddingGolden, tandem::testing::case_names(cases()));

// The true gradient where the options keep it: padding_idx and scale_grad_by_freq change it on
// purpose (the golden cases above cover them), so here the padding row is one no index picks.
TEST_P(EmbeddingOnDevice, GradientMatchesFiniteDifferences) {
  const Tensor idx =
      from_vector(std::vector<int64_t>{4, 0, 4, 2, 4, 1, 0}, {7}).to(device(), DType::Int64);
  const Tensor w = tandem::testing::leaf({5, 3}, 11, device());
  EXPECT_TRUE(gradcheck([&](const TensorList& v) { return embedding(idx, v[0]); }, {w}));
  EXPECT_TRUE(gradcheck([&](const TensorList& v) { return embedding(idx, v[0], 3); }, {w}));
}

TEST_P(EmbeddingOnDevice, ModuleTrainsAndItsPaddingRowStaysZero) {
  Generator gen(3);
  nn::EmbeddingOptions o{6, 4};
  o.padding_idx = -1;
  nn::Embedding emb(o, gen);
  emb.to(device());
  EXPECT_EQ(*emb.options.padding_idx, 5);
  const Tensor idx =
      from_vector(std::vector<int64_t>{5, 1, 5, 2}, {2, 2}).to(device(), DType::Int64);
  const Tensor out = emb.forward(idx);
  EXPECT_EQ(out.sizes(), (Shape{2, 2, 4}));
  out.sum().backward();
  const std::vector<double> g = emb.weight.grad().cpu().to_vector();
  for (int j = 0; j < 4; ++j) {
    EXPECT_EQ(g[5 * 4 + j], 0.0);  // the padding row: no gradient
    EXPECT_EQ(g[1 * 4 + j], 1.0);
    EXPECT_EQ(g[0 * 4 + j], 0.0);  // not picked
  }
  EXPECT_EQ(emb.weight.cpu().narrow(0, 5, 1).to_vector(), std::vector<double>(4, 0.0));
}
TANDEM_INSTANTIATE_DEVICE_TEST(EmbeddingOnDevice);

TEST(EmbeddingModule, InitReprAndKeysAreTorchs) {
  for (const json& m : section("modules")) {
    const auto args = m["args"].get<std::vector<int64_t>>();
    const json& kw = m["kwargs"];
    nn::EmbeddingOptions o{args[0], args[1]};
    if (kw.contains("padding_idx")) o.padding_idx = kw["padding_idx"].get<int64_t>();
    if (kw.contains("max_norm")) o.max_norm = kw["max_norm"].get<double>();
    if (kw.contains("norm_type")) o.norm_type = kw["norm_type"].get<double>();
    if (kw.contains("scale_grad_by_freq")) o.scale_grad_by_freq = kw["scale_grad_by_freq"];
    Generator gen(7);  // torch.manual_seed(7)
    nn::Embedding emb(o, gen);
    const std::string repr = m["repr"];
    EXPECT_EQ(emb.repr(), repr);
    if (m["padding_idx"].is_null())
      EXPECT_FALSE(emb.options.padding_idx.has_value()) << repr;
    else
      EXPECT_EQ(*emb.options.padding_idx, m["padding_idx"].get<int64_t>()) << repr;
    // normal_ draws PyTorch's values, then the padding row is zeroed. The fixture was drawn on
    // torch's AVX2 path (random_fill.h): bit for bit where tandem takes that path too, to an ulp
    // where this CPU makes it take the scalar one.
    const std::vector<double> got = emb.weight.to_vector(),
                              want = m["weight"]["values"].get<std::vector<double>>();
    ASSERT_EQ(got.size(), want.size()) << repr;
    if (pytorch_cpu_path() == AtenCpuPath::Avx2)
      EXPECT_EQ(got, want) << repr;
    else
      for (size_t i = 0; i < got.size(); ++i)
        EXPECT_NEAR(got[i], want[i], 2.5e-7 * std::abs(want[i])) << repr << " [" << i << "]";
    std::vector<std::string> keys;
    for (const auto& [k, v] : emb.state_dict()) keys.push_back(k);
    EXPECT_EQ(keys, m["keys"].get<std::vector<std::string>>()) << repr;
  }
}

TEST(EmbeddingModule, FromPretrainedSharesTheTableAndFreezesIt) {
  const json& p = section("from_pretrained");
  ASSERT_TRUE(p.is_object());
  const Tensor table = tensor_of(p["weight"], Device(), DType::Float32);
  const auto frozen = nn::Embedding::from_pretrained(table);
  EXPECT_EQ(frozen->repr(), p["frozen_repr"].get<std::string>());
  EXPECT_EQ(frozen->weight.requires_grad(), p["frozen_requires_grad"].get<bool>());
  EXPECT_EQ(frozen->weight.data_ptr<float>(), table.data_ptr<float>());
  EXPECT_EQ(nn::Embedding::from_pretrained(table, false)->weight.requires_grad(),
            p["trainable_requires_grad"].get<bool>());
  nn::EmbeddingOptions o;
  o.padding_idx = 1;
  const auto padded = nn::Embedding::from_pretrained(table, true, o);
  EXPECT_EQ(padded->repr(), p["padding_repr"].get<std::string>());
  EXPECT_EQ(padded->weight.to_vector(), table.to_vector());  // the padding row is left alone
  EXPECT_EQ(error_text([&] { nn::Embedding::from_pretrained(table[0]); }),
            "Embeddings parameter is expected to be 2-dimensional");
}

TEST(EmbeddingErrors, AreTorchs) {
  const json& e = section("errors");
  ASSERT_EQ(e.size(), 8u);
  const Tensor w = zeros({5, 3});
  auto ints = [](std::vector<int64_t> v) { return from_vector(v, {int64_t(v.size())}); };
  // tandem's index error goes on to name the index and the size: PyTorch's text, then those.
  auto expect = [&](const char* key, const std::function<void()>& fn) {
    const std::string got = error_text(fn), want = e[key];
    EXPECT_EQ(got.substr(0, want.size()), want) << key;
    if (want != "index out of range in self") {
      EXPECT_EQ(got, want) << key;
    }
  };
  expect("float_indices", [&] { embedding(zeros({1}), w); });
  expect("int16_indices", [&] { embedding(ints({1}).to(DType::Int16), w); });
  expect("index_too_large", [&] { embedding(ints({0, 5}), w); });
  expect("index_negative", [&] { embedding(ints({-1}), w); });
  expect("padding_too_large", [&] { embedding(ints({1}), w, 5); });
  expect("padding_too_small", [&] { embedding(ints({1}), w, -6); });
  expect("weight_1d", [&] { embedding(ints({1}), zeros({3})); });
  expect("module_padding_too_large", [&] {
    nn::EmbeddingOptions o{5, 3};
    o.padding_idx = 5;
    nn::Embedding m(o);
  });
}

TEST(EmbeddingModule, YamlLayerBuildsIt) {
  const launch::RunConfig cfg = launch::parse_config(R"(
model:
  name: sequential
  layers:
    - embedding: {num_embeddings: 20, embedding_dim: 6, padding_idx: 0, max_norm: 2.0}
    - flatten
    - linear: {in_features: 18, out_features: 2}
data: {dataset: synthetic}
)",
                                                     "embedding.yaml");
  Generator gen(0);
  const nn::ModulePtr model = nn::models::build_model(cfg.model, gen);
  EXPECT_EQ(model->repr(),
            "Sequential(\n  (0): Embedding(20, 6, padding_idx=0, max_norm=2.0)\n  (1): "
            "Flatten(start_dim=1, end_dim=-1)\n  (2): Linear(in_features=18, out_features=2, "
            "bias=True)\n)");
  const Tensor idx = from_vector(std::vector<int64_t>{0, 3, 19, 7, 7, 2}, {2, 3});
  EXPECT_EQ(model->forward(idx).sizes(), (Shape{2, 2}));
  const launch::RunConfig bad_cfg = launch::parse_config(R"(
model:
  name: sequential
  layers:
    - embedding: {num_embeddings: 20, embedding_dim: 6, padding_idx: 1.5}
data: {dataset: synthetic}
)",
                                                         "bad.yaml");
  EXPECT_NE(error_text([&] {
              nn::models::build_model(bad_cfg.model, gen);
            }).find("padding_idx: expected an integer or null"),
            std::string::npos);
}
