// max_pool2d with indices, max_unpool2d, adaptive_max_pool2d, avg_pool2d's divisor_override and
// the adaptive pools' None output sizes against PyTorch 1.13 (tests/fixtures/pool.json from
// make_pool.py): outputs, indices and input gradients on every device
// (PoolGolden.MatchesPyTorch/max_unpool2d_k3_s2_p1_cuda), PyTorch's error texts and module reprs,
// gradients against finite differences, and the modules.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "framework/nn/nn.h"
#include "framework/ops/ops.h"
#include "tests/device_compare.h"
#include "tests/device_test.h"
#include "tests/error_text.h"
#include "tests/golden_cases.h"
#include "tests/gradcheck.h"

using namespace tandem;
using autograd::TensorList;
using nlohmann::json;
using tandem::testing::error_text;
using tandem::testing::gradcheck;
using tandem::testing::leaf;

namespace {

const json& fixture() {
  static const json f = tandem::testing::load_fixture("pool.json");
  return f;
}
const json& cases() {
  static const json c = fixture().is_object() ? fixture()["cases"] : json::array();
  return c;
}

// A fixture tensor, made on the CPU and moved to `device`.
Tensor decode(const json& j, Device device) {
  const Shape shape = j["shape"].get<Shape>();
  if (j["dtype"] == "int64")
    return from_vector(j["values"].get<std::vector<int64_t>>(), shape).to(device);
  const DType dtype = j["dtype"] == "float64" ? DType::Float64 : DType::Float32;
  return from_vector(tandem::testing::fixture_numbers(j["values"]), shape,
                     TensorOptions(DType::Float64))
      .to(device, dtype);
}

// A PyTorch int-or-pair argument.
Pair pair_of(const json& p) {
  if (p.is_number()) return {p.get<int64_t>(), p.get<int64_t>()};
  return {p[0].get<int64_t>(), p[1].get<int64_t>()};
}
// An adaptive pool's output_size: an int or a pair whose entries may be null (None).
AdaptiveSize adaptive_size_of(const json& p) {
  if (p.is_number()) return p.get<int64_t>();
  auto one = [](const json& v) {
    return v.is_null() ? std::nullopt : std::optional<int64_t>(v.get<int64_t>());
  };
  return {one(p[0]), one(p[1])};
}
Pair pair_or(const json& params, const char* key, Pair def) {
  return params.contains(key) ? pair_of(params[key]) : def;
}

// Runs case `c` on x: {output, indices (max pooling only)}.
std::pair<Tensor, Tensor> run(const json& c, const Tensor& x, Device device) {
  const std::string op = c["op"];
  const json& p = c["params"];
  if (op == "max_pool2d") {
    const Pair k = pair_of(p["kernel_size"]);
    return max_pool2d_with_indices(x, k, pair_or(p, "stride", k), pair_or(p, "padding", {0, 0}),
                                   pair_or(p, "dilation", {1, 1}), p.value("ceil_mode", false));
  }
  if (op == "adaptive_max_pool2d")
    return adaptive_max_pool2d_with_indices(x, adaptive_size_of(p["output_size"]));
  if (op == "adaptive_avg_pool2d")
    return {adaptive_avg_pool2d(x, adaptive_size_of(p["output_size"])), Tensor()};
  if (op == "avg_pool2d") {
    const Pair k = pair_of(p["kernel_size"]);
    return {avg_pool2d(x, k, pair_or(p, "stride", k), pair_or(p, "padding", {0, 0}),
                       p.value("ceil_mode", false), p.value("count_include_pad", true),
                       p["divisor_override"].get<int64_t>()),
            Tensor()};
  }
  EXPECT_EQ(op, "max_unpool2d");
  const Pair k = pair_of(p["kernel_size"]);
  std::optional<std::vector<int64_t>> size;
  if (p.contains("output_size")) size = p["output_size"].get<std::vector<int64_t>>();
  return {max_unpool2d(x, decode(c["unpool_indices"], device), k, pair_or(p, "stride", k),
                       pair_or(p, "padding", {0, 0}), size),
          Tensor()};
}

// got == want within atol + rtol * |want|, NaN where want is NaN.
void expect_close(const std::vector<double>& got, const std::vector<double>& want, double tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << what << " element " << i << ": " << got[i];
      continue;
    }
    EXPECT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << what << " element " << i;
  }
}

class PoolGolden : public tandem::testing::GoldenCaseTest {};
class PoolOnDevice : public tandem::testing::DeviceTest {};

}  // namespace

TEST(PoolGoldenFixture, HasCasesErrorsAndReprs) {
  ASSERT_TRUE(fixture().is_object()) << "tests/fixtures/pool.json is missing or unreadable";
  EXPECT_EQ(cases().size(), 28u);
  EXPECT_EQ(fixture()["errors"].size(), 10u);
  EXPECT_EQ(fixture()["reprs"].size(), 10u);
}

TEST_P(PoolGolden, MatchesPyTorch) {
  const json& c = cases()[case_index()];
  const std::string name = c["name"];
  Tensor x = decode(c["input"], device());
  x.set_requires_grad(true);
  auto [out, indices] = run(c, x, device());
  const Tensor want = decode(c["out"], kCPU);
  EXPECT_EQ(out.sizes(), want.sizes()) << name;
  EXPECT_EQ(out.dtype(), x.dtype()) << name;
  EXPECT_EQ(out.device(), device()) << name;
  // Max pooling and unpooling move values: PyTorch's exactly. Averages round.
  const bool averages = c["op"] == "avg_pool2d" || c["op"] == "adaptive_avg_pool2d";
  const double tol = averages ? (x.dtype() == DType::Float64 ? 1e-14 : 1e-6) : 0.0;
  expect_close(out.cpu().to_vector(), want.to_vector(), tol, name + " output");
  if (c.contains("indices")) {
    ASSERT_TRUE(indices.defined()) << name;
    EXPECT_EQ(indices.dtype(), DType::Int64) << name;
    EXPECT_EQ(indices.device(), device()) << name;
    EXPECT_EQ(indices.cpu().to_vector(), decode(c["indices"], kCPU).to_vector()) << name;
  }
  (out * decode(c["v"], device())).sum().backward();
  ASSERT_TRUE(x.grad().defined()) << name;
  EXPECT_EQ(x.grad().device(), device());
  // Sums of a few gradients, in PyTorch's order or another.
  expect_close(x.grad().cpu().to_vector(), decode(c["grad"], kCPU).to_vector(),
               x.dtype() == DType::Float64 ? 1e-14 : 1e-6, name + " grad");
}
TANDEM_INSTANTIATE_GOLDEN_TEST(PoolGolden, tandem::testing::case_names(cases()));

TEST(Pool, ErrorsAreTorchs) {
  ASSERT_TRUE(fixture().is_object());
  const json& e = fixture()["errors"];
  auto want = [&](const char* key) { return e[key].get<std::string>(); };
  Tensor p = arange(16, TensorOptions(DType::Float32)).reshape({1, 1, 4, 4});
  auto [po, pi] = max_pool2d_with_indices(p, {2, 2});
  auto unpool = [&](const Tensor& x, const Tensor& idx,
                    std::optional<std::vector<int64_t>> size = std::nullopt) {
    return [x, idx, size] { max_unpool2d(x, idx, {2, 2}, std::nullopt, {0, 0}, size); };
  };
  EXPECT_EQ(error_text(unpool(po, pi + 100)), want("unpool_index_too_large"));
  EXPECT_EQ(error_text(unpool(po, pi - 100)), want("unpool_index_negative"));
  EXPECT_EQ(error_text(unpool(po, pi, std::vector<int64_t>{9, 9})),
            want("unpool_output_size_too_large"));
  EXPECT_EQ(error_text(unpool(po, pi, std::vector<int64_t>{4, 2})),
            want("unpool_output_size_too_small"));
  EXPECT_EQ(error_text(unpool(po, pi, std::vector<int64_t>{3})), want("unpool_output_size_length"));
  EXPECT_EQ(error_text(unpool(po, pi.to(DType::Float32))), want("unpool_indices_dtype"));
  EXPECT_EQ(error_text(unpool(po, pi.narrow(3, 0, 1).contiguous())), want("unpool_indices_shape"));
  EXPECT_EQ(error_text(unpool(po.reshape({2, 2}), pi.reshape({2, 2}))), want("unpool_input_dims"));
  EXPECT_EQ(error_text([] {
              adaptive_max_pool2d(zeros({1, 1, 0, 3}), {2, 2});
            }),
            want("adaptive_max_empty"));
  EXPECT_EQ(error_text([&] {
              avg_pool2d(p, {2, 2}, {2, 2}, {0, 0}, false, true, 0);
            }),
            want("avg_divisor_zero"));
}

TEST(Pool, ModuleReprsAreTorchs) {
  ASSERT_TRUE(fixture().is_object());
  const json& r = fixture()["reprs"];
  EXPECT_EQ(nn::MaxPool2d(nn::MaxPool2dOptions(2).return_indices_(true)).repr(),
            r["MaxPool2d_return_indices"].get<std::string>());
  EXPECT_EQ(nn::MaxUnpool2d(2).repr(), r["MaxUnpool2d_2"].get<std::string>());
  EXPECT_EQ(nn::MaxUnpool2d(nn::Size2(2, 3), nn::Size2(1), 1).repr(),
            r["MaxUnpool2d_23_1_1"].get<std::string>());
  EXPECT_EQ(nn::AdaptiveMaxPool2d(3).repr(), r["AdaptiveMaxPool2d_3"].get<std::string>());
  EXPECT_EQ(nn::AdaptiveMaxPool2d(nn::Size2(3, 4), true).repr(),
            r["AdaptiveMaxPool2d_34_indices"].get<std::string>());
  nn::AvgPool2dOptions avg(2);
  avg.divisor_override = 3;
  EXPECT_EQ(nn::AvgPool2d(avg).repr(), r["AvgPool2d_divisor"].get<std::string>());
  EXPECT_EQ(nn::AdaptiveAvgPool2d({std::nullopt, 7}).repr(),
            r["AdaptiveAvgPool2d_none_7"].get<std::string>());
  EXPECT_EQ(nn::AdaptiveAvgPool2d(7).repr(), r["AdaptiveAvgPool2d_7"].get<std::string>());
  EXPECT_EQ(nn::AdaptiveMaxPool2d({3, std::nullopt}).repr(),
            r["AdaptiveMaxPool2d_3_none"].get<std::string>());
  EXPECT_EQ(nn::AdaptiveMaxPool2d({std::nullopt, std::nullopt}, true).repr(),
            r["AdaptiveMaxPool2d_none_none_indices"].get<std::string>());
}

// None keeps the input's size on that axis; the modules hold no state, None or not.
TEST(Pool, AdaptiveNoneOutputSize) {
  Generator gen(5);
  const Tensor x = randn({2, 3, 7, 5}, gen);
  EXPECT_EQ(adaptive_avg_pool2d(x, {std::nullopt, 3}).sizes(), (Shape{2, 3, 7, 3}));
  EXPECT_TRUE(equal(adaptive_avg_pool2d(x, {std::nullopt, 3}), adaptive_avg_pool2d(x, {7, 3})));
  EXPECT_TRUE(equal(adaptive_max_pool2d(x, {4, std::nullopt}), adaptive_max_pool2d(x, {4, 5})));
  EXPECT_TRUE(equal(adaptive_max_pool2d_with_indices(x, {std::nullopt, std::nullopt}).second,
                    adaptive_max_pool2d_with_indices(x, {7, 5}).second));
  nn::AdaptiveAvgPool2d avg({std::nullopt, 2});
  EXPECT_TRUE(equal(avg.forward(x), adaptive_avg_pool2d(x, {7, 2})));
  EXPECT_EQ(avg.output_size, nn::AdaptiveSize2(std::nullopt, 2));
  nn::AdaptiveMaxPool2d amax({3, std::nullopt}, true);
  const std::vector<Tensor> a = amax.forward_many({x});
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[1].sizes(), (Shape{2, 3, 3, 5}));
  EXPECT_TRUE(avg.state_dict().empty());
  EXPECT_TRUE(amax.state_dict().empty());
  EXPECT_TRUE(nn::AdaptiveAvgPool2d(7).state_dict().empty());
}

TEST_P(PoolOnDevice, GradientsMatchFiniteDifferences) {
  Tensor x = leaf({2, 3, 7, 5}, 11, device());
  EXPECT_TRUE(gradcheck(
      [](const TensorList& in) {
        return max_pool2d_with_indices(in[0], {3, 2}, {2, 1}, {1, 1}, {1, 2}, true).first;
      },
      {x}));
  EXPECT_TRUE(gradcheck(
      [](const TensorList& in) {
        return adaptive_max_pool2d(in[0], {3, 4});
      },
      {x}));
  EXPECT_TRUE(gradcheck(
      [](const TensorList& in) {
        return adaptive_max_pool2d(in[0], {9, 6});
      },
      {x}));
  EXPECT_TRUE(gradcheck(
      [](const TensorList& in) {
        return avg_pool2d(in[0], {3, 3}, {2, 2}, {1, 1}, true, false, 5);
      },
      {x}));
  // Unpooling, with distinct indices: where two inputs name one element, PyTorch's gradient (a
  // gather, matched by the golden case max_unpool2d_chw_duplicates) reaches the loser too, which
  // the output does not depend on.
  const Tensor idx = max_pool2d_with_indices(x.detach(), {2, 2}).second;
  Tensor y = leaf(idx.sizes(), 12, device());
  EXPECT_TRUE(gradcheck(
      [idx](const TensorList& in) {
        return max_unpool2d(in[0], idx, {2, 2}, std::nullopt, {0, 0}, std::vector<int64_t>{7, 5});
      },
      {y}));
}

TEST_P(PoolOnDevice, UnpoolInvertsPoolingAndLastDuplicateWins) {
  Generator gen(3);
  const Tensor x = randn({2, 3, 6, 8}, gen).to(device());
  auto [y, idx] = max_pool2d_with_indices(x, {2, 2});
  const Tensor back = max_unpool2d(y, idx, {2, 2});
  // Each window's max back in its place, zeros elsewhere.
  const std::vector<double> xs = x.cpu().to_vector(), ys = y.cpu().to_vector(),
                            is = idx.cpu().to_vector(), bs = back.cpu().to_vector();
  std::vector<double> want(xs.size(), 0.0);
  for (size_t i = 0; i < ys.size(); ++i) want[(i / 12) * 48 + size_t(is[i])] = ys[i];
  EXPECT_EQ(bs, want);
  // Two inputs naming element 0 of a 1x1 plane: the second one's value.
  const Tensor v = from_vector(std::vector<double>{1.5, -2.5}, {1, 1, 2}).to(device());
  const Tensor same = zeros({1, 1, 2}, TensorOptions(DType::Int64)).to(device());
  EXPECT_EQ(max_unpool2d(v, same, {1, 1}).cpu().to_vector(), (std::vector<double>{-2.5, 0.0}));
}

TEST_P(PoolOnDevice, BadUnpoolIndexIsReported) {
  const Tensor v = ones({1, 2, 2}).to(device());
  const Tensor idx = from_vector(std::vector<int64_t>{0, 3, 17, 2}, {1, 2, 2}).to(device());
  EXPECT_EQ(error_text([&] {
              max_unpool2d(v, idx, {2, 2}).cpu();
            }),
            "Found an invalid max index: 17 (output volumes are of size 4x4");
  // The device is usable afterwards.
  const Tensor good = from_vector(std::vector<int64_t>{0, 3, 7, 2}, {1, 2, 2}).to(device());
  EXPECT_EQ(max_unpool2d(v, good, {2, 2}).sum().item(), 4.0);
}

TEST_P(PoolOnDevice, ResultsMatchTheCpu) {
  Generator gen(5);
  const Tensor x = randn({2, 3, 9, 7}, gen);
  for (DType dtype : {DType::Float32, DType::Float64, DType::Float16}) {
    const Tensor xc = x.to(dtype), xd = x.to(device(), dtype);
    auto [ac, ic] = adaptive_max_pool2d_with_indices(xc, {4, 5});
    auto [ad, id] = adaptive_max_pool2d_with_indices(xd, {4, 5});
    EXPECT_TRUE(tandem::testing::matches_cpu(ad, ac, device(), "adaptive_max_pool2d"));
    EXPECT_TRUE(tandem::testing::matches_cpu(id, ic, device(), "adaptive_max_pool2d indices"));
    const Tensor uc = max_unpool2d(ac, ic, {2, 3}, Pair{2, 1}, {0, 0}, std::vector<int64_t>{9, 7});
    const Tensor ud = max_unpool2d(ad, id, {2, 3}, Pair{2, 1}, {0, 0}, std::vector<int64_t>{9, 7});
    EXPECT_TRUE(tandem::testing::matches_cpu(ud, uc, device(), "max_unpool2d"));
    EXPECT_TRUE(tandem::testing::matches_cpu(avg_pool2d(xd, {3, 2}, {2, 2}, {1, 1}, true, true, 4),
                                             avg_pool2d(xc, {3, 2}, {2, 2}, {1, 1}, true, true, 4),
                                             device(), "avg_pool2d divisor"));
  }
}

TEST_P(PoolOnDevice, ModulesReturnIndicesAndUnpool) {
  Generator gen(9);
  const Tensor x = randn({2, 3, 6, 6}, gen).to(device());
  nn::MaxPool2d pool(nn::MaxPool2dOptions(2).return_indices_(true));
  const std::vector<Tensor> outs = pool.forward_many({x});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TRUE(equal(outs[0], max_pool2d(x, {2, 2})));
  EXPECT_EQ(outs[1].dtype(), DType::Int64);
  EXPECT_NE(error_text([&] { pool.forward(x); }).find("forward_with_indices"), std::string::npos);
  auto [y, idx] = pool.forward_with_indices(x);
  nn::MaxUnpool2d unpool(2);
  const Tensor back = unpool.forward(y, idx);
  EXPECT_EQ(back.sizes(), x.sizes());
  EXPECT_TRUE(equal(unpool.forward_many({y, idx})[0], back));
  EXPECT_NE(error_text([&] { unpool.forward(y); }).find("needs the indices"), std::string::npos);
  EXPECT_TRUE(equal(nn::MaxPool2d(2).forward(x), y));

  nn::AdaptiveMaxPool2d amax(nn::Size2(4, 3), true);
  const std::vector<Tensor> a = amax.forward_many({x});
  ASSERT_EQ(a.size(), 2u);
  EXPECT_TRUE(equal(nn::AdaptiveMaxPool2d(nn::Size2(4, 3)).forward(x), a[0]));
  EXPECT_EQ(a[1].sizes(), (Shape{2, 3, 4, 3}));

  nn::AvgPool2dOptions o(2);
  o.divisor_override = 1;  // window sums
  EXPECT_TRUE(allclose(nn::AvgPool2d(o).forward(x), nn::AvgPool2d(2).forward(x) * 4.0, 1e-6, 1e-6));
}
TANDEM_INSTANTIATE_DEVICE_TEST(PoolOnDevice);
