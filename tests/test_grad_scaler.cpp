// The loss scaler against a recorded run of torch.cuda.amp.GradScaler (tests/fixtures/
// grad_scaler.json from make_grad_scaler.py: PyTorch 1.13's GradScaler code over 14 steps of
// finite, inf and nan gradients, with unscale_ before some steps and one explicit new scale),
// on each device; then resume from its state_dict, PyTorch's errors, and a disabled scaler.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "framework/autograd/grad_mode.h"
#include "framework/optim/grad_scaler.h"
#include "framework/optim/sgd.h"
#include "framework/tensor/factories.h"
#include "tests/device_test.h"
#include "tests/golden_cases.h"

using namespace tandem;
using nlohmann::json;
using optim::GradScaler;
using optim::GradScalerOptions;

namespace {

const json& fixture() {
  static const json f = tandem::testing::load_fixture("grad_scaler.json");
  return f;
}

GradScalerOptions recorded_options() {
  const json& o = fixture()["options"];
  return {.init_scale = o["init_scale"],
          .growth_factor = o["growth_factor"],
          .backoff_factor = o["backoff_factor"],
          .growth_interval = o["growth_interval"]};
}

struct ScaledRun {
  std::vector<Tensor> params;
  optim::SGD opt;
  GradScaler scaler;
  explicit ScaledRun(Device d)
      : params{from_vector(tandem::testing::fixture_numbers(fixture()["w0"]), {2, 3})
                   .to(d)
                   .set_requires_grad(true),
               from_vector(tandem::testing::fixture_numbers(fixture()["b0"]), {2})
                   .to(d)
                   .set_requires_grad(true)},
        opt(params, {.lr = fixture()["lr"], .momentum = fixture()["momentum"]}),
        scaler(recorded_options()) {}

  // Step `i` of the recording; returns whether the optimizer stepped.
  bool step(size_t i) {
    const json& s = fixture()["steps"][i];
    const Device d = params[0].device();
    params[0].set_grad(from_vector(tandem::testing::fixture_numbers(s["grad_w"]), {2, 3}).to(d));
    params[1].set_grad(from_vector(tandem::testing::fixture_numbers(s["grad_b"]), {2}).to(d));
    if (s["unscale_first"]) scaler.unscale_(opt);
    const bool stepped = scaler.step(opt);
    scaler.update(s["new_scale"].is_null() ? 0.0 : s["new_scale"].get<double>());
    return stepped;
  }
};

void expect_close(const Tensor& t, const json& want, const std::string& what) {
  const auto got = t.cpu().to_vector();
  const auto w = tandem::testing::fixture_numbers(want);
  ASSERT_EQ(got.size(), w.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], w[i], 1e-6 * (1 + std::abs(w[i]))) << what << " element " << i;
}

}  // namespace

TEST(GradScalerFixture, HasTheRecordedSteps) {
  ASSERT_TRUE(fixture().is_object()) << "fixture grad_scaler.json";
  EXPECT_EQ(fixture()["steps"].size(), 14u);
}

class GradScalerOnDevice : public tandem::testing::DeviceTest {};

TEST_P(GradScalerOnDevice, FollowsPyTorchsRecordedRun) {
  ASSERT_TRUE(fixture().is_object());
  ScaledRun run(device());
  for (size_t i = 0; i < fixture()["steps"].size(); ++i) {
    const json& s = fixture()["steps"][i];
    SCOPED_TRACE("step " + std::to_string(i) + " (" + s["kind"].get<std::string>() + ")");
    EXPECT_EQ(run.step(i), s["stepped"].get<bool>());
    EXPECT_EQ(run.scaler.get_scale(), s["scale"].get<double>());
    EXPECT_EQ(run.scaler.growth_tracker(), s["growth_tracker"].get<int64_t>());
    expect_close(run.params[0], s["w"], "w");
    expect_close(run.params[1], s["b"], "b");
    const Value sd = run.scaler.state_dict();
    for (const auto& [key, want] : s["state_dict"].items())
      EXPECT_EQ(sd.at(Value(key)).to_double(), want.get<double>()) << key;
  }
}

TEST_P(GradScalerOnDevice, ResumesFromItsStateDictExactly) {
  ASSERT_TRUE(fixture().is_object());
  ScaledRun first(device());
  for (size_t i = 0; i < 9; ++i) first.step(i);  // mid-way: scale 64, tracker 0 after a nan
  ScaledRun resumed(device());
  {
    NoGradGuard no_grad;
    for (size_t i = 0; i < 2; ++i) resumed.params[i].copy_(first.params[i]);
  }
  resumed.opt.load_state_dict(first.opt.state_dict());
  resumed.scaler.load_state_dict(first.scaler.state_dict());
  for (size_t i = 9; i < fixture()["steps"].size(); ++i) {
    EXPECT_EQ(resumed.step(i), first.step(i)) << "step " << i;
    EXPECT_EQ(resumed.scaler.get_scale(), first.scaler.get_scale()) << "step " << i;
    EXPECT_EQ(resumed.scaler.growth_tracker(), first.scaler.growth_tracker()) << "step " << i;
    for (size_t k = 0; k < 2; ++k)
      EXPECT_EQ(resumed.params[k].cpu().to_vector(), first.params[k].cpu().to_vector());
  }
}

TANDEM_INSTANTIATE_DEVICE_TEST(GradScalerOnDevice);

TEST(GradScaler, ScalesTheLossAsAOneElementFloatTensor) {
  GradScaler scaler({.init_scale = 8.0});
  const Tensor scaled = scaler.scale(scalar_tensor(1.5));
  EXPECT_EQ(scaled.sizes(), Shape({1}));
  EXPECT_EQ(scaled.item(), 12.0);
}

TEST(GradScaler, RaisesPyTorchsErrorsForCallsOutOfOrder) {
  Tensor p = zeros({3}).set_requires_grad(true);
  optim::SGD opt({p}, {.lr = 0.1});
  GradScaler scaler;
  auto expect_error = [](auto&& fn, const std::string& text) {
    try {
      fn();
      ADD_FAILURE() << "no error; expected: " << text;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  {  // no gradients at all (as torch, the failed step leaves the optimizer unscaled)
    GradScaler fresh;
    expect_error([&] { fresh.step(opt); }, "No inf checks were recorded for this optimizer.");
    expect_error([&] { fresh.update(); }, "No inf checks were recorded prior to update.");
  }
  p.set_grad(ones({3}));
  scaler.unscale_(opt);
  expect_error([&] { scaler.unscale_(opt); },
               "unscale_() has already been called on this optimizer since the last update().");
  scaler.step(opt);
  expect_error([&] { scaler.unscale_(opt); }, "unscale_() is being called after step().");
  expect_error([&] { scaler.step(opt); },
               "step() has already been called since the last update().");
  scaler.update();
  {  // float16 gradients (of float16 parameters) are refused before any gradient is unscaled: a
     // float32 one queued first is left scaled, and unscale_ can run again
    const TensorOptions half(DType::Float16);
    Tensor first = zeros({2}).set_requires_grad(true);
    Tensor second = zeros({2}, half).set_requires_grad(true);
    optim::SGD two({first, second}, {.lr = 0.1});
    first.set_grad(full({2}, 2.0));
    second.set_grad(full({2}, 2.0, half));
    GradScaler fresh({.init_scale = 2.0});
    expect_error([&] { fresh.unscale_(two); }, "Attempting to unscale FP16 gradients.");
    EXPECT_EQ(first.grad().to_vector(), std::vector<double>(2, 2.0));
    second.set_grad(Tensor());
    fresh.unscale_(two);
    EXPECT_EQ(first.grad().to_vector(), std::vector<double>(2, 1.0));
  }
  expect_error([] { GradScaler({.growth_factor = 1.0}); }, "The growth factor must be > 1.0.");
  expect_error([] { GradScaler({.backoff_factor = 1.0}); }, "The backoff factor must be < 1.0.");
  expect_error([&] { scaler.load_state_dict(Value::dict()); },
               "The source state dict is empty, possibly because it was saved from a disabled "
               "instance of GradScaler.");
  Value bad = scaler.state_dict();
  bad.set("_growth_tracker", Value(std::string("3")));
  const double before = scaler.get_scale();
  expect_error([&] { scaler.load_state_dict(bad); },
               "scaler._growth_tracker: expected an int, got a str");
  bad = scaler.state_dict();
  bad.set("scale", -1.0);
  expect_error([&] { scaler.load_state_dict(bad); }, "scaler.scale: expected a positive");
  EXPECT_EQ(scaler.get_scale(), before);  // nothing changed
}

TEST(GradScaler, DisabledItPassesEverythingThrough) {
  Tensor p = zeros({2}).set_requires_grad(true);
  optim::SGD opt({p}, {.lr = 1.0});
  GradScaler scaler({.enabled = false});
  const Tensor loss = scalar_tensor(2.0);
  EXPECT_TRUE(scaler.scale(loss).is_same(loss));
  p.set_grad(full({2}, INFINITY));
  EXPECT_TRUE(scaler.step(opt));  // no check: the optimizer steps
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 1.0);
  EXPECT_EQ(scaler.state_dict().size(), 0u);
}
