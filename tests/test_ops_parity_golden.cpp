// Corners where tandem once differed from PyTorch 1.13, against its values
// (tests/fixtures/ops_parity.json from make_ops_parity.py): integer matrix products with
// wraparound in every integer type (CPU; CUDA refuses them with PyTorch's CUDA error), the
// products' dtype errors, abs and neg of the integer types at their minimum, `where` with a uint8
// condition, the sign of zero from abs, maximum/minimum and gelu, bit for bit, and the unary ops
// on uint8.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "framework/ops/ops.h"
#include "framework/ops/scalar_type.h"
#include "framework/tensor/kernel_args.h"
#include "kernels/kernel_table.h"
#include "tests/device_test.h"
#include "tests/error_text.h"
#include "tests/golden_cases.h"

using namespace tandem;
using nlohmann::json;
using tandem::testing::error_text;

namespace {

const json& fixture() {
  static const json f = tandem::testing::load_fixture("ops_parity.json");
  return f;
}
const json& section(const char* key) { return tandem::testing::fixture_section(fixture(), key); }

DType dtype_named(const std::string& name) {
  for (DType t : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int64,
                  DType::Int32, DType::Int16, DType::Int8, DType::UInt8, DType::Bool})
    if (name == dtype_name(t)) return t;
  ADD_FAILURE() << "unknown dtype " << name;
  return DType::Float32;
}

// An integer tensor exactly as the fixture holds it (int64 values beyond 2^53 included).
Tensor int_tensor(const json& operand, DType dtype, Device device) {
  const std::vector<int64_t> values = operand["values"].get<std::vector<int64_t>>();
  const Shape shape = operand["shape"].get<Shape>();
  return from_vector(values, shape).to(device, dtype);
}

std::vector<int64_t> int_values(const Tensor& t) {
  const Tensor c = t.cpu().to(DType::Int64).contiguous();
  const int64_t* p = c.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + c.numel());
}

// The kernel PyTorch's CUDA build names when it refuses an integer product: mm, addmm (linear)
// and matmul's cases that reduce to them run addmm; batched products bmm; a vector by a vector
// dot, a matrix by a vector addmv. (Its AT_DISPATCH names; no GPU here to print them.)
std::string cuda_kernel(const json& c) {
  const std::string op = c["op"];
  const size_t da = c["a"]["shape"].size(), db = c["b"]["shape"].size();
  if (op == "bmm" || (op == "matmul" && da >= 3 && db >= 3)) return "bmm_cuda";
  if (op == "matmul" && da == 1 && db == 1) return "dot";
  if (op == "matmul" && da == 2 && db == 1) return "addmv_impl_cuda";
  return "addmm_cuda";
}

const json& products() { return section("products"); }

class OpsParityGolden : public tandem::testing::GoldenCaseTest {};
class OpsParityOnDevice : public tandem::testing::DeviceTest {};

}  // namespace

TEST(OpsParityGoldenFixture, HasCases) {
  ASSERT_TRUE(fixture().is_object()) << "tests/fixtures/ops_parity.json is missing or unreadable";
  EXPECT_EQ(products().size(), 56u);
  EXPECT_EQ(section("unary").size(), 9u);
  EXPECT_EQ(section("signed_zero").size(), 14u);
}

TEST_P(OpsParityGolden, IntegerProductMatchesPyTorch) {
  const json& c = products()[case_index()];
  const DType dtype = dtype_named(c["dtype"]);
  const std::string op = c["op"];
  const Tensor a = int_tensor(c["a"], dtype, device());
  const Tensor b = int_tensor(c["b"], dtype, device());
  const Tensor bias = c.contains("bias") ? int_tensor(c["bias"], dtype, device()) : Tensor();
  const Tensor b_op = c["b_t"].get<bool>() ? b.t() : b;
  auto run = [&] {
    if (op == "mm") return mm(a, b_op);
    if (op == "linear") return linear(a, b, bias);
    return matmul(a, b_op);  // "matmul", and "bmm" (equal batch sizes: one bmm)
  };
  if (device().is_cuda()) {
    EXPECT_EQ(error_text([&] { run(); }), std::string("\"") + cuda_kernel(c) +
                                              "\" not implemented for '" +
                                              ops_detail::scalar_type_name(dtype) + "'");
    return;
  }
  const Tensor out = run();
  EXPECT_EQ(out.dtype(), dtype);
  EXPECT_EQ(out.sizes(), c["out"]["shape"].get<Shape>());
  EXPECT_EQ(int_values(out), c["out"]["values"].get<std::vector<int64_t>>());
}
TANDEM_INSTANTIATE_GOLDEN_TEST(OpsParityGolden, tandem::testing::case_names(products()));

TEST(OpsParityErrors, ProductDtypeErrorsAreTorchs) {
  const json& e = section("errors");
  ASSERT_TRUE(e.is_object());
  const Tensor L = ones({2, 2}, TensorOptions(DType::Int64)), F = ones({2, 2});
  const Tensor I = ones({2, 2}, TensorOptions(DType::Int32));
  const Tensor B = ones({2, 2}, TensorOptions(DType::Bool));
  auto expect = [&](const char* key, const std::function<void()>& fn) {
    EXPECT_EQ(error_text(fn), e[key].get<std::string>()) << key;
  };
  expect("mm_long_float", [&] { mm(L, F); });
  expect("mm_float_long", [&] { mm(F, L); });
  expect("mm_int_long", [&] { mm(I, L); });
  expect("bmm_long_float", [&] { matmul(L.unsqueeze(0), F.unsqueeze(0)); });
  expect("matmul_long_float", [&] { matmul(L, F); });
  expect("matmul_batched_float_int", [&] { matmul(F.expand({2, 2, 2}), I.expand({2, 2, 2})); });
  expect("matmul_vm_long_float", [&] { matmul(L.select(0, 0), F); });
  expect("matmul_mv_long_float", [&] { matmul(L, F.select(0, 0)); });
  expect("matmul_dot_long_float", [&] { matmul(L.select(0, 0), F.select(0, 0)); });
  expect("mm_bool", [&] { mm(B, B); });
  expect("bmm_bool", [&] { matmul(B.unsqueeze(0), B.unsqueeze(0)); });
  expect("matmul_mv_bool", [&] { matmul(B, B.select(0, 0)); });
  expect("matmul_dot_bool", [&] { matmul(B.select(0, 0), B.select(0, 0)); });
  expect("linear_x_long", [&] { linear(L, F, F.select(0, 0)); });
  expect("linear_w_long", [&] { linear(F, L, F.select(0, 0)); });
  expect("linear_bias_long", [&] { linear(F, F, L.select(0, 0)); });
  expect("abs_bool", [&] { abs(B); });
  expect("where_long_condition", [&] { where(L, F, F); });
  expect("where_int8_condition", [&] { where(L.to(DType::Int8), F, F); });
  expect("where_float_condition", [&] { where(F, F, F); });
}

TEST_P(OpsParityOnDevice, IntegerAbsAndNegWrapAsTorchs) {
  for (const json& c : section("unary")) {
    const std::string name = c["name"];
    const DType dtype = dtype_named(c["dtype"]);
    const std::vector<int64_t> input = c["input"].get<std::vector<int64_t>>();
    const Tensor x = from_vector(input, {int64_t(input.size())}).to(device(), dtype);
    const Tensor out = c["op"] == "abs" ? abs(x) : neg(x);
    EXPECT_EQ(out.dtype(), dtype) << name;
    EXPECT_EQ(int_values(out), c["out"].get<std::vector<int64_t>>()) << name;
  }
}

TEST_P(OpsParityOnDevice, WhereTakesAUint8Condition) {
  const json& w = section("where_uint8");
  ASSERT_TRUE(w.is_object());
  const std::vector<int64_t> cond = w["condition"].get<std::vector<int64_t>>();
  const int64_t n = int64_t(cond.size());
  const Tensor c = from_vector(cond, {n}).to(device(), DType::UInt8);
  const Tensor a = from_vector(w["a"].get<std::vector<double>>(), {n}).to(device());
  const Tensor b = from_vector(w["b"].get<std::vector<double>>(), {n}).to(device());
  const Tensor out = where(c, a, b);
  EXPECT_EQ(out.dtype(), DType::Float32);
  EXPECT_EQ(out.cpu().to_vector(), w["out"].get<std::vector<double>>());
  // As a bool condition, gradients included.
  Tensor ga = a.detach();
  ga.set_requires_grad(true);
  where(c, ga, b).sum().backward();
  ASSERT_TRUE(ga.grad().defined());
  std::vector<double> want;
  for (int64_t v : cond) want.push_back(v != 0 ? 1.0 : 0.0);
  EXPECT_EQ(ga.grad().cpu().to_vector(), want);
}

TEST_P(OpsParityOnDevice, SignedZerosAreTorchs) {
  for (const json& c : section("signed_zero")) {
    const std::string name = c["name"], op = c["op"];
    const DType dtype = dtype_named(c["dtype"]);
    auto zeros_with_signs = [&](const json& negative) {
      std::vector<double> v;
      for (const json& s : negative) v.push_back(s.get<bool>() ? -0.0 : 0.0);
      return from_vector(v, {int64_t(v.size())}).to(device(), dtype);
    };
    const Tensor a = zeros_with_signs(c["a_negative"]), b = zeros_with_signs(c["b_negative"]);
    Tensor out;
    if (op == "abs") out = abs(a);
    if (op == "maximum") out = maximum(a, b);
    if (op == "minimum") out = minimum(a, b);
    if (op == "gelu") out = gelu(a);
    if (op == "gelu_tanh") out = gelu(a, "tanh");
    if (op == "relu") out = relu(a);
    if (op == "neg") out = neg(a);
    ASSERT_TRUE(out.defined()) << name;
    const std::vector<double> got = out.cpu().to_vector();
    const json& want = c["out_negative"];
    ASSERT_EQ(got.size(), want.size()) << name;
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_EQ(std::signbit(got[i]), want[i].get<bool>()) << name << " at " << i;
  }
}
TEST_P(OpsParityOnDevice, MinimumAndItsGradientAreTorchs) {
  const json& m = section("minimum");
  ASSERT_TRUE(m.is_object());
  auto values = [](const json& list) {
    std::vector<double> v;
    for (const json& x : list) v.push_back(x.is_null() ? std::nan("") : x.get<double>());
    return v;
  };
  const Shape shape{int64_t(m["a"].size())};
  Tensor a = from_vector(values(m["a"]), shape).to(device());
  Tensor b = from_vector(values(m["b"]), shape).to(device());
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  const Tensor out = minimum(a, b);
  const std::vector<double> got = out.detach().cpu().to_vector(), want = values(m["out"]);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i]))
      EXPECT_TRUE(std::isnan(got[i])) << i;
    else
      EXPECT_EQ(got[i], want[i]) << i;
  }
  (out * from_vector(std::vector<double>{1, 2, 3, 4, 5}, shape).to(device())).sum().backward();
  EXPECT_EQ(a.grad().cpu().to_vector(), values(m["grad_a"]));
  EXPECT_EQ(b.grad().cpu().to_vector(), values(m["grad_b"]));
}
TANDEM_INSTANTIATE_DEVICE_TEST(OpsParityOnDevice);

TEST(OpsParityErrors, ScalarsATypeCannotHoldAreRefusedAndNegativeIntsWrapIntoUint8) {
  const json& cases = section("scalar_fits");
  ASSERT_EQ(cases.size(), 29u);
  for (const json& c : cases) {
    const std::string op = c["op"].get<std::string>();
    const DType t = dtype_named(c["dtype"].get<std::string>());
    const double value = std::stod(c["value"].get<std::string>());
    const std::string what =
        op + " " + c["dtype"].get<std::string>() + " " + c["value"].get<std::string>();
    const Tensor base = from_vector(std::vector<double>{-5, 3, 100}, {3}).to(t);
    Tensor out;
    const std::string err = error_text([&] {
      if (op == "full") out = full({3}, value, TensorOptions(t));
      if (op == "fill_") out = base.clone().fill_(value);
      if (op == "clamp_min") out = clamp(base, value, std::nullopt);
      if (op == "clamp_max") out = clamp(base, std::nullopt, value);
      if (op == "clamp_min_") out = base.clone().clamp_(value, std::nullopt);
    });
    if (c.contains("error")) {
      EXPECT_EQ(err, c["error"].get<std::string>()) << what;
      continue;
    }
    ASSERT_TRUE(out.defined()) << what << ": " << err;
    const std::vector<double> got = out.to_vector();
    ASSERT_EQ(got.size(), c["out"].size()) << what;
    for (size_t i = 0; i < got.size(); ++i) {
      const json& e = c["out"][i];
      if (e.is_null())
        EXPECT_TRUE(std::isnan(got[i])) << what;
      else if (e.is_string())
        EXPECT_EQ(got[i], INFINITY) << what;
      else
        EXPECT_EQ(got[i], e.get<double>()) << what << " [" << i << "]";
    }
  }
}

// --- the unary ops on uint8 ------------------------------------------------------------------
// PyTorch 1.13's values for every byte the fixture lists: neg wraps (-1 is 255), abs is the
// identity, sign, relu and clamp keep uint8 (a bound of -1 is 255; a fractional bound computes in
// float32), the in-place scalar ops wrap, and the activations beyond relu are refused with its
// text on either device.

namespace {
class OpsParityUint8 : public tandem::testing::DeviceTest {};
}  // namespace

TEST(OpsParityUint8Fixture, HasCases) { EXPECT_EQ(section("uint8_unary").size(), 24u); }

TEST_P(OpsParityUint8, UnaryOpsAreTorchs) {
  int ran = 0;
  for (const json& c : section("uint8_unary")) {
    const std::string name = c["name"];
    const std::vector<double> input = tandem::testing::fixture_numbers(c["input"]);
    const Tensor x = from_vector(input, {int64_t(input.size())}).to(device(), DType::UInt8);
    ASSERT_EQ(x.cpu().to_vector(), input) << name;
    Tensor out;
    const std::string err = error_text([&] {
      if (name == "neg") out = neg(x);
      if (name == "negative") out = -x;
      if (name == "abs") out = abs(x);
      if (name == "sign") out = sign(x);
      if (name == "relu") out = relu(x);
      if (name == "clamp_3_200") out = clamp(x, 3, 200);
      if (name == "clamp_min_100") out = clamp(x, 100, std::nullopt);
      if (name == "clamp_max_100") out = clamp(x, std::nullopt, 100);
      if (name == "clamp_-1_200") out = clamp(x, -1, 200);
      if (name == "clamp_min_-1") out = clamp(x, -1, std::nullopt);
      if (name == "clamp_0.5_2.5") out = clamp(x, 0.5, 2.5);
      if (name == "clamp_256") out = clamp(x, 256, std::nullopt);
      if (name == "clamp__3_200") out = x.clone().clamp_(3, 200);
      if (name == "add__-1") out = x.clone().add_(-1);
      if (name == "mul__-1") out = x.clone().mul_(-1);
      if (name == "mul__3") out = x.clone().mul_(3);
      if (name == "leaky_relu") out = leaky_relu(x);
      if (name == "gelu") out = gelu(x);
      if (name == "silu") out = silu(x);
      if (name == "mish") out = mish(x);
      if (name == "elu") out = elu(x);
      if (name == "softplus") out = softplus(x);
      if (name == "hardsigmoid") out = hardsigmoid(x);
      if (name == "hardswish") out = hardswish(x);
    });
    ++ran;
    if (c.contains("error")) {
      EXPECT_EQ(err, c["error"].get<std::string>()) << name;
      EXPECT_FALSE(out.defined()) << name;
      continue;
    }
    ASSERT_TRUE(out.defined()) << name << ": " << err;
    EXPECT_EQ(out.dtype(), dtype_named(c["dtype"])) << name;
    EXPECT_EQ(out.device(), device()) << name;
    EXPECT_EQ(out.cpu().to_vector(), tandem::testing::fixture_numbers(c["out"])) << name;
  }
  EXPECT_EQ(ran, 24);
}
TANDEM_INSTANTIATE_DEVICE_TEST(OpsParityUint8);

// Integer powers: x ** e with an int exponent keeps the integer type and wraps around in every
// integer type, tensor ** tensor with negative exponents, bool ** 2 as int64, and the exponents
// PyTorch refuses (negative ones, ones the type cannot hold) with its text. Then sign, whose NaN
// and -0.0 give +0.0 and whose gradient is 0.

namespace {
class OpsParityPow : public tandem::testing::DeviceTest {};
}  // namespace

TEST(OpsParityPowFixture, HasCases) {
  EXPECT_EQ(section("integer_pow").size(), 71u);
  EXPECT_EQ(section("sign").size(), 4u);
}

TEST_P(OpsParityPow, IntegerPowersAreTorchs) {
  int errors = 0;
  for (const json& c : section("integer_pow")) {
    const std::string name = c["name"];
    const std::vector<int64_t> input = c["input"].get<std::vector<int64_t>>();
    const int64_t n = int64_t(input.size());
    const Tensor x = from_vector(input, {n}).to(device(), dtype_named(c["dtype"]));
    Tensor out;
    const std::string err = error_text([&] {
      if (c.contains("exponent_tensor")) {
        const std::vector<int64_t> e = c["exponent_tensor"].get<std::vector<int64_t>>();
        out = pow(x, from_vector(e, {n}).to(device(), x.dtype()));
      } else {
        out = pow(x, c["exponent"].get<int64_t>());
      }
    });
    if (c.contains("error")) {
      ++errors;
      EXPECT_EQ(err, c["error"].get<std::string>()) << name;
      continue;
    }
    ASSERT_TRUE(out.defined()) << name << ": " << err;
    EXPECT_EQ(out.dtype(), dtype_named(c["out_dtype"])) << name;
    EXPECT_EQ(out.device(), device()) << name;
    EXPECT_EQ(int_values(out), c["out"].get<std::vector<int64_t>>()) << name;
  }
  EXPECT_GT(errors, 0);
}

TEST_P(OpsParityPow, AFloatingTensorTakesAnIntegerExponentAsADouble) {
  const Tensor x =
      from_vector(std::vector<double>{-1.5, 0.0, 2.0, 3.25}, {4}).to(device(), DType::Float32);
  for (int e : {-2, -1, 0, 1, 2, 3, 7}) {
    const Tensor by_int = pow(x, e), by_double = pow(x, double(e));
    EXPECT_EQ(by_int.dtype(), DType::Float32);
    EXPECT_TRUE(equal(by_int, by_double)) << e;
  }
}

TEST_P(OpsParityPow, SignIsTorchsAndHasAZeroGradient) {
  for (const json& c : section("sign")) {
    const DType dtype = dtype_named(c["dtype"]);
    const std::vector<double> input = tandem::testing::fixture_numbers(c["input"]);
    const int64_t n = int64_t(input.size());
    Tensor x = from_vector(input, {n}).to(device(), dtype);
    if (is_floating(dtype)) x.requires_grad_(true);
    const Tensor out = sign(x);
    EXPECT_EQ(out.dtype(), dtype);
    const std::vector<double> got = out.cpu().to(DType::Float64).to_vector();
    EXPECT_EQ(got, c["out"].get<std::vector<double>>()) << c["dtype"];
    std::vector<bool> negative;
    for (double v : got) negative.push_back(std::signbit(v));
    EXPECT_EQ(negative, c["out_negative"].get<std::vector<bool>>()) << c["dtype"];
    if (!is_floating(dtype)) continue;
    sum(out).backward();
    EXPECT_EQ(x.grad().cpu().to_vector(), std::vector<double>(size_t(n), 0.0)) << c["dtype"];
  }
  EXPECT_EQ(sign(from_vector(std::vector<double>{1, 0}, {2}).to(device(), DType::Bool)).dtype(),
            DType::Bool);
}
TANDEM_INSTANTIATE_DEVICE_TEST(OpsParityPow);
