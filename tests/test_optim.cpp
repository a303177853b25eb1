// Optimizers and schedulers against PyTorch 1.13 (tests/fixtures/optim.json, made by
// tests/fixtures/make_optim.py): 25-step trajectories, 100-step LR schedules, state_dict
// layouts, PyTorch state_dicts loaded and continued, and bit-exact save/resume. On every device
// (OptimOnDevice/*/cpu, .../cuda): the same trajectories as on the CPU, the state_dict of a
// device optimizer, and CPU state loaded into an optimizer over device parameters.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "framework/autograd/grad_mode.h"
#include "framework/ops/elementwise.h"
#include "framework/optim/adam.h"
#include "framework/optim/clip_grad.h"
#include "framework/optim/factory.h"
#include "framework/optim/lr_scheduler.h"
#include "framework/optim/sgd.h"
#include "framework/tensor/aten_cpu_path.h"
#include "framework/tensor/factories.h"
#include "kernels/common/optim_functors.h"
#include "kernels/device/runtime.h"
#include "tests/device_compare.h"
#include "tests/device_test.h"
#include "tests/error_text.h"
#include "tests/fixtures_dir.h"
#include "tests/value_tensors.h"

using namespace tandem;
using nlohmann::json;

namespace {

const json& fixture() {
  static const json j = [] {
    std::ifstream f(tandem::testing::fixture_path("optim.json"));
    return json::parse(f);
  }();
  return j;
}

std::vector<Tensor> initial_params() {
  std::vector<Tensor> ps;
  const auto& fx = fixture();
  for (size_t i = 0; i < fx["shapes"].size(); ++i) {
    Shape shape = fx["shapes"][i].get<Shape>();
    ps.push_back(
        from_vector(fx["init"][i].get<std::vector<double>>(), shape, TensorOptions(DType::Float64))
            .set_requires_grad(true));
  }
  return ps;
}

void set_grads(std::vector<Tensor>& ps, int step) {
  for (size_t i = 0; i < ps.size(); ++i)
    ps[i].set_grad(from_vector(fixture()["grads"][step][i].get<std::vector<double>>(),
                               ps[i].sizes(), TensorOptions(DType::Float64)));
}

Value json_to_value(const json& j) {  // kwargs from the fixture
  if (j.is_null()) return Value();
  if (j.is_boolean()) return Value(j.get<bool>());
  if (j.is_number_integer()) return Value(j.get<int64_t>());
  if (j.is_number()) return Value(j.get<double>());
  if (j.is_string()) return Value(j.get<std::string>());
  if (j.is_array()) {
    Value l = Value::list();
    for (const auto& x : j) l.append(json_to_value(x));
    return l;
  }
  Value d = Value::dict();
  for (const auto& [k, v] : j.items()) d.set(Value(k), json_to_value(v));
  return d;
}

// A PyTorch state_dict encoded by make_optim.py's encode().
Value decode(const json& j) {
  if (j.is_object() && j.contains("tensor")) {
    Shape shape = j["shape"].get<Shape>();
    return Value(from_vector(j["tensor"].get<std::vector<double>>(), shape,
                             TensorOptions(dtype_from_name(j["dtype"]))));
  }
  if (j.is_object() && j.contains("dict")) {
    Value d = Value::dict();
    for (const auto& kv : j["dict"]) d.set(decode(kv[0]), decode(kv[1]));
    return d;
  }
  if (j.is_object() && j.contains("list")) {
    Value l = Value::list();
    for (const auto& x : j["list"]) l.append(decode(x));
    return l;
  }
  if (j.is_object() && j.contains("tuple")) {
    std::vector<Value> items;
    for (const auto& x : j["tuple"]) items.push_back(decode(x));
    return Value::tuple(items);
  }
  if (j.is_object() && j.contains("float")) return Value(std::stod(j["float"].get<std::string>()));
  return json_to_value(j);
}

std::unique_ptr<optim::Optimizer> make(const std::string& name, const json& kwargs,
                                       std::vector<Tensor> ps) {
  Value spec = json_to_value(kwargs);
  spec.set("name", name);
  return optim::make_optimizer(spec, std::move(ps));
}

void expect_params(const std::vector<Tensor>& ps, const json& want, double tol,
                   const std::string& what) {
  ASSERT_EQ(ps.size(), want.size()) << what << ": number of parameters";
  for (size_t i = 0; i < ps.size(); ++i) {
    auto got = ps[i].to_vector();
    auto exp = want[i].get<std::vector<double>>();
    ASSERT_EQ(got.size(), exp.size()) << what << " param " << i << ": number of elements";
    for (size_t k = 0; k < got.size(); ++k)
      ASSERT_NEAR(got[k], exp[k], tol) << what << " param " << i << "[" << k << "]";
  }
}

}  // namespace

// The optimizers the fixture must cover (an empty or truncated fixture fails, not passes).
const std::vector<std::string> kFixtureOptimizers = {
    "sgd",          "sgd_momentum", "sgd_dampening",     "sgd_nesterov", "sgd_weight_decay",
    "sgd_maximize", "adam",         "adam_weight_decay", "adam_amsgrad", "adamw",
    "adamw_amsgrad"};
constexpr int kSteps = 25;

TEST(Optim, TrajectoriesMatchPyTorch) {
  const json& cases = fixture()["optimizers"];
  std::vector<std::string> keys;
  for (const auto& [key, c] : cases.items()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  std::vector<std::string> want = kFixtureOptimizers;
  std::sort(want.begin(), want.end());
  ASSERT_EQ(keys, want) << "tests/fixtures/optim.json lacks optimizers (run make_optim.py)";
  ASSERT_EQ(fixture()["grads"].size(), size_t(kSteps));
  for (const auto& [key, c] : cases.items()) {
    ASSERT_EQ(c["params"].size(), size_t(kSteps)) << key << ": trajectory length";
    auto ps = initial_params();
    auto opt = make(c["name"], c["kwargs"], ps);
    for (int step = 0; step < kSteps; ++step) {
      set_grads(ps, step);
      opt->step();
      expect_params(ps, c["params"][step], 1e-12, key + " step " + std::to_string(step + 1));
    }
  }
}

// float32 SGD, Adam and AdamW to the bit: PyTorch's CPU builds round their tensor ops differently
// (aten_cpu_path.h; 20 to 210 of 1003 values differ after 4 steps). The optimizers against the path
// PyTorch takes on this CPU, and the update functors against both.
namespace {

const char* path_name(AtenCpuPath p) { return p == AtenCpuPath::Avx2 ? "avx2" : "scalar"; }

std::vector<float> floats(const json& j) { return j.get<std::vector<float>>(); }

// Four steps of a fixture configuration through the element functors, on `path`.
std::vector<double> functor_steps(const json& run, const json& c, AtenCpuPath path) {
  const json& kw = c["kwargs"];
  const bool fused = path == AtenCpuPath::Avx2;
  std::vector<float> p = floats(run["p0"]), s1(p.size()), s2(p.size()), s3(p.size());
  int step = 0;
  for (const json& gj : run["grads"]) {
    const std::vector<float> g = floats(gj);
    ++step;
    if (c["optimizer"] == "sgd") {
      const kernels::SgdParams s{kw["lr"],
                                 kw.value("momentum", 0.0),
                                 kw.value("dampening", 0.0),
                                 kw.value("weight_decay", 0.0),
                                 kw.value("nesterov", false),
                                 kw.value("maximize", false),
                                 step == 1,
                                 fused};
      for (size_t i = 0; i < p.size(); ++i) kernels::sgd_update(p[i], g[i], &s1[i], s);
    } else {
      kernels::AdamParams a{};
      a.lr = kw["lr"];
      const auto betas = kw.value("betas", std::vector<double>{0.9, 0.999});
      a.beta1 = betas[0], a.beta2 = betas[1];
      a.eps = 1e-8;
      a.decoupled = c["optimizer"] == "adamw";
      a.weight_decay = kw.value("weight_decay", a.decoupled ? 1e-2 : 0.0);
      a.amsgrad = kw.value("amsgrad", false);
      a.step_size = a.lr / (1 - std::pow(a.beta1, step));
      a.bias_correction2_sqrt = std::sqrt(1 - std::pow(a.beta2, step));
      a.fused = fused;
      for (size_t i = 0; i < p.size(); ++i)
        kernels::adam_update(p[i], g[i], s1[i], s2[i], &s3[i], a);
    }
  }
  return std::vector<double>(p.begin(), p.end());
}

}  // namespace

TEST(Optim, Float32StepsMatchPyTorchBitForBit) {
  const json& runs = fixture()["float32"];
  ASSERT_TRUE(runs.contains("scalar") && runs.contains("avx2")) << "run make_optim.py";
  ASSERT_EQ(runs["avx2"]["configs"].size(), 8u);
  // The optimizers, on this CPU's path.
  const json& mine = runs[path_name(pytorch_cpu_path())];
  const std::vector<float> p0 = floats(mine["p0"]);
  const int64_t n = int64_t(p0.size());
  for (const auto& [name, c] : mine["configs"].items()) {
    Tensor p = from_vector(p0, {n}).set_requires_grad(true);
    auto opt = make(c["optimizer"], c["kwargs"], {p});
    for (const json& g : mine["grads"]) {
      p.set_grad(from_vector(floats(g), {n}));
      opt->step();
    }
    EXPECT_EQ(p.detach().to_vector(), c["params"].get<std::vector<double>>()) << name;
  }
  // The update functors, on both paths.
  for (AtenCpuPath path : {AtenCpuPath::Default, AtenCpuPath::Avx2}) {
    const json& run = runs[path_name(path)];
    for (const auto& [name, c] : run["configs"].items())
      EXPECT_EQ(functor_steps(run, c, path), c["params"].get<std::vector<double>>())
          << name << " on torch's " << path_name(path) << " path";
  }
}

TEST(Optim, StateDictLayoutAndPyTorchStateContinues) {
  for (const auto& [key, c] : fixture()["optimizers"].items()) {
    // Our state_dict after 10 steps has PyTorch's keys, order and values.
    auto ps = initial_params();
    auto opt = make(c["name"], c["kwargs"], ps);
    for (int step = 0; step < 10; ++step) {
      set_grads(ps, step);
      opt->step();
    }
    Value theirs = decode(c["state_dict_at_10"]);
    Value ours = opt->state_dict();
    const auto& tg = theirs.at("param_groups").items()[0].dict_items();
    const auto& og = ours.at("param_groups").items()[0].dict_items();
    ASSERT_EQ(tg.size(), og.size()) << key;
    for (size_t i = 0; i < tg.size(); ++i) {
      EXPECT_EQ(tg[i].first.to_string(), og[i].first.to_string()) << key;
      if (tg[i].second.is_number()) {
        EXPECT_DOUBLE_EQ(tg[i].second.to_double(), og[i].second.to_double()) << key;
      }
    }
    for (const auto& [idx, st] : theirs.at("state").dict_items()) {
      if (!ours.at("state").contains(
              idx)) {  // 1.13 keeps {'momentum_buffer': None} without momentum
        for (const auto& [name, v] : st.dict_items())
          EXPECT_TRUE(v.is_none()) << key << " " << name.to_string();
        continue;
      }
      const Value& mine = ours.at("state").at(idx);
      for (const auto& [name, v] : st.dict_items()) {
        if (!v.is_tensor()) continue;
        EXPECT_EQ(mine.at(name).to_tensor().sizes(), v.to_tensor().sizes())
            << key << " " << name.to_string();
        EXPECT_TRUE(allclose(mine.at(name).to_tensor().to(DType::Float64),
                             v.to_tensor().to(DType::Float64), 1e-12, 1e-12))
            << key << " " << name.to_string();
      }
    }
    // A PyTorch-made state_dict loads into a fresh optimizer, which then continues identically.
    auto ps2 = initial_params();
    for (size_t i = 0; i < ps2.size(); ++i) {
      NoGradGuard g;
      ps2[i].copy_(ps[i]);
    }
    auto opt2 = make(c["name"], c["kwargs"], ps2);
    opt2->load_state_dict(theirs);
    for (int step = 10; step < 25; ++step) {
      set_grads(ps2, step);
      opt2->step();
    }
    expect_params(ps2, c["params"][24], 1e-12, key + " continued from PyTorch state");
  }
}

TEST(Optim, SaveAndResumeIsBitExact) {
  for (const auto& [key, c] : fixture()["optimizers"].items()) {
    auto ps = initial_params();
    auto opt = make(c["name"], c["kwargs"], ps);
    Value sched_spec = Value::dict();
    sched_spec.set("name", "cosineannealinglr");
    sched_spec.set("warmup_epochs", 3);
    auto sched = optim::make_scheduler(sched_spec, *opt, 25, 1);
    auto ps2 = initial_params();
    std::unique_ptr<optim::Optimizer> opt2;
    std::unique_ptr<optim::LRScheduler> sched2;
    for (int step = 0; step < 25; ++step) {
      set_grads(ps, step);
      opt->step();
      sched->step();
      if (step == 9) {  // checkpoint: fresh objects load the state
        for (size_t i = 0; i < ps.size(); ++i) {
          NoGradGuard g;
          ps2[i].copy_(ps[i]);
        }
        opt2 = make(c["name"], c["kwargs"], ps2);
        sched2 = optim::make_scheduler(sched_spec, *opt2, 25, 1);
        opt2->load_state_dict(opt->state_dict());
        sched2->load_state_dict(sched->state_dict());
      } else if (step > 9) {
        set_grads(ps2, step);
        opt2->step();
        sched2->step();
      }
    }
    for (size_t i = 0; i < ps.size(); ++i) EXPECT_TRUE(equal(ps[i], ps2[i])) << key;
    EXPECT_EQ(sched->get_last_lr(), sched2->get_last_lr()) << key;
  }
}

TEST(Optim, Errors) {
  auto ps = initial_params();
  EXPECT_THROW(optim::SGD(ps, optim::SgdOptions{.lr = -1}), Error);
  try {
    optim::SGD(ps, optim::SgdOptions{.lr = 0.1, .nesterov = true});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "Nesterov momentum requires a momentum and zero dampening");
  }
  optim::SGD one(ps, {});
  Value sd = one.state_dict();
  sd.at("param_groups").append(sd.at("param_groups").items()[0]);
  try {
    one.load_state_dict(sd);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "loaded state dict has a different number of parameter groups");
  }
  // A parameter twice in one group (PyTorch warns that this will become an error): updated twice
  // in one GPU launch, the two updates would race.
  try {
    optim::SGD twice({ps[0], ps[1], ps[0]}, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "optimizer contains a parameter group with duplicate parameters");
  }
  Value spec = Value::dict();
  spec.set("name", "sgd");
  spec.set("momentun", 0.9);
  try {
    optim::make_optimizer(spec, ps);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.hint().find("did you mean 'optimizer.momentum'"), std::string::npos) << e.hint();
  }
}

// Adam checks `not 0.0 <= x`, so a nan hyper-parameter is invalid (SGD's `x < 0` lets it by).
TEST(Optim, AdamRefusesNanHyperParameters) {
  auto ps = initial_params();
  using tandem::testing::throws_with;
  EXPECT_TRUE(throws_with([&] { optim::Adam(ps, {.lr = NAN}); }, "Invalid learning rate: nan"));
  EXPECT_TRUE(throws_with([&] { optim::Adam(ps, {.eps = NAN}); }, "Invalid epsilon value: nan"));
  EXPECT_TRUE(throws_with([&] { optim::AdamW(ps, {.weight_decay = NAN}); },
                          "Invalid weight_decay value: nan"));
}

// A step that throws at a later parameter (here a non-contiguous one) still applies the updates
// queued before it, with the state made for them, as updating one parameter at a time did: the
// first parameter moved by lr * g and its momentum buffer is g, not uninitialised memory.
TEST(Optim, AStepThatThrowsHalfwayAppliesTheUpdatesBeforeIt) {
  const auto f64 = TensorOptions(DType::Float64);
  Tensor p0 = full({4}, 1.0, f64).set_requires_grad(true);
  Tensor p1 = zeros({3, 2}, f64).t().set_requires_grad(true);  // a leaf view, not contiguous
  p0.set_grad(full({4}, 0.5, f64));
  p1.set_grad(full({2, 3}, 0.5, f64));
  optim::SGD sgd({p0, p1}, optim::SgdOptions{.lr = 0.1, .momentum = 0.9});
  EXPECT_THROW(sgd.step(), Error);
  EXPECT_EQ(p0.to_vector(), std::vector<double>(4, 1.0 - 0.1 * 0.5));
  const Value sd = sgd.state_dict();
  const Value& st = sd.at("state").dict_items()[0].second;
  EXPECT_EQ(st.at("momentum_buffer").to_tensor().to_vector(), std::vector<double>(4, 0.5));
}

TEST(LRScheduler, SchedulesMatchPyTorch) {
  for (const auto& [key, c] : fixture()["schedulers"].items()) {
    auto p = zeros({1}, TensorOptions(DType::Float64)).set_requires_grad(true);
    optim::SGD opt({p}, optim::SgdOptions{.lr = 0.1, .momentum = 0.9});
    Value spec = json_to_value(c["spec"]);
    auto sched = optim::make_scheduler(spec, opt, 100, 1);
    std::vector<std::string> keys;
    const Value state = sched->state_dict();
    for (const auto& [k, v] : state.dict_items()) keys.push_back(k.to_string());
    auto want_keys = c["state_keys"].get<std::vector<std::string>>();
    if (key.rfind("onecyclelr", 0) ==
        0)  // 1.13 pickles a method as 'anneal_func'; we store main's '_anneal_func_type'
      std::replace(want_keys.begin(), want_keys.end(), std::string("anneal_func"),
                   std::string("_anneal_func_type"));
    EXPECT_EQ(keys, want_keys) << key;
    std::vector<std::string> group_keys;
    for (const auto& [k, v] : opt.param_groups()[0].options.dict_items())
      group_keys.push_back(k.to_string());
    auto want_group = c["group_keys"].get<std::vector<std::string>>();
    want_group.erase(std::find(want_group.begin(), want_group.end(), "params"));
    EXPECT_EQ(group_keys, want_group) << key;
    const auto lrs = c["lr"].get<std::vector<double>>();
    const auto momenta = c["momentum"].get<std::vector<double>>();
    for (size_t i = 0; i < lrs.size(); ++i) {
      if (i > 0) {
        p.set_grad(zeros({1}, TensorOptions(DType::Float64)));
        opt.step();
        if (sched->needs_metric())
          sched->step(fixture()["metrics"][i - 1].get<double>());
        else
          sched->step();
      }
      ASSERT_NEAR(opt.lr(0), lrs[i], 1e-12 * std::max(1.0, std::abs(lrs[i])))
          << key << " step " << i;
      ASSERT_NEAR(opt.param_groups()[0].get("momentum"), momenta[i], 1e-12) << key << " step " << i;
    }
  }
}

// Arguments that make a schedule divide by zero are an error where PyTorch raises
// ZeroDivisionError, at the same step, never a nan or inf learning rate to train on with.
TEST(LRScheduler, DivisionsByZeroAreErrors) {
  using tandem::testing::throws_with;
  auto p = zeros({1}, TensorOptions(DType::Float64)).set_requires_grad(true);
  auto sgd = [&] {
    return std::make_unique<optim::SGD>(std::vector<Tensor>{p},
                                        optim::SgdOptions{.lr = 0.1, .momentum = 0.9});
  };
  {  // pct_start * total_steps - 1 = 0: a first phase of no steps, met at construction
    auto owner = sgd();
    optim::SGD& opt = *owner;
    EXPECT_TRUE(throws_with(
        [&] { optim::OneCycleLR(opt, {.max_lr = 1, .total_steps = 10, .pct_start = 0.1}); },
        "OneCycleLR: float division by zero"));
  }
  {  // factor 0 is allowed, but undoing it at total_iters divides by it
    auto owner = sgd();
    optim::SGD& opt = *owner;
    optim::ConstantLR s(opt, 0.0, 2);
    s.step();
    EXPECT_EQ(opt.lr(0), 0.0);
    EXPECT_TRUE(throws_with([&] { s.step(); }, "ConstantLR: float division by zero"));
  }
  {  // a negative power at the last step raises 0 to it
    auto owner = sgd();
    optim::SGD& opt = *owner;
    optim::PolynomialLR s(opt, 2, -1.0);
    s.step();
    EXPECT_NEAR(opt.lr(0), 0.2, 1e-15);
    EXPECT_TRUE(throws_with([&] { s.step(); }, "PolynomialLR: 0.0 cannot be raised"));
  }
  {  // the closed form (SequentialLR's restart) divides by total_iters
    auto owner = sgd();
    optim::SGD& opt = *owner;
    optim::LinearLR s(opt, 0.5, 1.0, 0);
    EXPECT_TRUE(throws_with([&] { s.step_to(1); }, "LinearLR: float division by zero"));
  }
}

// The closed form (SequentialLR's restart, step(epoch)) in Python's order of operations:
// start + (end - start) * min(T, e) / T gives other last bits than (end - start) * (e / T).
TEST(LRScheduler, StepLRNeedsAStepSize) {
  auto p = zeros({1}, TensorOptions(DType::Float64)).set_requires_grad(true);
  optim::SGD opt({p}, optim::SgdOptions{.lr = 0.1});
  EXPECT_EQ(tandem::testing::error_text([&] {
              optim::make_scheduler(json_to_value(json{{"name", "steplr"}}), opt, 10, 1);
            }),
            "scheduler.step_size: required for steplr");
}

TEST(LRScheduler, LinearLRClosedFormIsPyTorchsToTheBit) {
  auto p = zeros({1}, TensorOptions(DType::Float64)).set_requires_grad(true);
  optim::SGD opt({p}, optim::SgdOptions{.lr = 0.1});
  optim::LinearLR s(opt, 0.2, 0.7, 6);
  s.step_to(5);
  EXPECT_EQ(opt.lr(0), 0.06166666666666666);  // PyTorch 1.13's _get_closed_form_lr()
}

TEST(LRScheduler, SequentialLRNeedsItsOwnOptimizersSchedulers) {
  auto p = zeros({1}, TensorOptions(DType::Float64)).set_requires_grad(true);
  optim::SGD mine({p}, optim::SgdOptions{.lr = 0.1}), other({p}, optim::SgdOptions{.lr = 0.1});
  std::vector<std::unique_ptr<optim::LRScheduler>> parts;
  parts.push_back(std::make_unique<optim::ConstantLR>(mine));
  parts.push_back(std::make_unique<optim::ConstantLR>(other));
  EXPECT_EQ(tandem::testing::error_text([&] { optim::SequentialLR(mine, std::move(parts), {2}); }),
            "Sequential Schedulers expects all schedulers to belong to the same optimizer, but got "
            "schedulers at index 1 to be different than the optimizer passed in.");
  EXPECT_NE(tandem::testing::error_text([&] {
              optim::SequentialLR(mine, {}, {});
            }).find("but got number of schedulers 0"),
            std::string::npos);
}

TEST(LRScheduler, PyTorchStateDictsLoadAndContinue) {
  // Build each scheduler fresh (as a resumed run would), load PyTorch's optimizer and scheduler
  // state after 10 steps, and continue: the learning rates equal PyTorch's from there on.
  for (const auto& [key, c] : fixture()["schedulers"].items()) {
    auto p = zeros({1}, TensorOptions(DType::Float64)).set_requires_grad(true);
    optim::SGD opt({p}, optim::SgdOptions{.lr = 0.1, .momentum = 0.9});
    auto sched = optim::make_scheduler(json_to_value(c["spec"]), opt, 100, 1);
    opt.load_state_dict(decode(c["state_at_10"]["optimizer"]));
    sched->load_state_dict(decode(c["state_at_10"]["scheduler"]));
    const auto lrs = c["lr"].get<std::vector<double>>();
    ASSERT_NEAR(opt.lr(0), lrs[10], 1e-12) << key;
    for (size_t i = 11; i < lrs.size(); ++i) {
      p.set_grad(zeros({1}, TensorOptions(DType::Float64)));
      opt.step();
      if (sched->needs_metric())
        sched->step(fixture()["metrics"][i - 1].get<double>());
      else
        sched->step();
      ASSERT_NEAR(opt.lr(0), lrs[i], 1e-12 * std::max(1.0, std::abs(lrs[i])))
          << key << " step " << i;
    }
  }
}

// ---- on a device ------------------------------------------------------------------------------

namespace {

using tandem::testing::matches_cpu;

class OptimOnDevice : public tandem::testing::StackDeviceTest {};

// The fixture's initial parameters as leaves on `device` in `dtype`.
std::vector<Tensor> params_on(Device device, DType dtype) {
  std::vector<Tensor> out;
  for (const auto& p : initial_params()) out.push_back(p.detach().to(device, dtype).clone());
  for (auto& p : out) p.set_requires_grad(true);
  return out;
}

// Step `step`'s fixture gradients, on each parameter's device and in its dtype.
void set_grads_like(std::vector<Tensor>& ps, int step) {
  for (size_t i = 0; i < ps.size(); ++i)
    ps[i].set_grad(from_vector(fixture()["grads"][step][i].get<std::vector<double>>(),
                               ps[i].sizes(), TensorOptions(DType::Float64))
                       .to(ps[i].device(), ps[i].dtype()));
}

void steps(optim::Optimizer& opt, std::vector<Tensor>& ps, int from, int to) {
  for (int s = from; s < to; ++s) {
    set_grads_like(ps, s);
    opt.step();
  }
}

// The parameters are on `where` and match the reference with `computed_on`'s tolerance.
::testing::AssertionResult params_match(const std::vector<Tensor>& got,
                                        const std::vector<Tensor>& ref, Device where,
                                        const std::string& what,
                                        std::optional<Device> computed_on = std::nullopt) {
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].device() != where)
      return ::testing::AssertionFailure() << what << " param " << i << " left " << where.str();
    auto r = matches_cpu(got[i], ref[i], computed_on.value_or(where),
                         what + " param " + std::to_string(i));
    if (!r) return r;
  }
  return ::testing::AssertionSuccess();
}

// Every tensor of a saved optimizer state: PyTorch's placement (Adam's 'step' is a float32 CPU
// tensor, the rest on the parameter's device in its dtype) and the reference's values.
::testing::AssertionResult state_matches(const Value& got, const Value& ref, Device device,
                                         DType dtype, const std::string& what) {
  const auto& g = got.at("state").dict_items();
  const auto& r = ref.at("state").dict_items();
  if (g.size() != r.size())
    return ::testing::AssertionFailure()
           << what << ": state of " << g.size() << " vs " << r.size() << " parameters";
  for (size_t i = 0; i < g.size(); ++i) {
    for (const auto& [name, v] : g[i].second.dict_items()) {
      const std::string n = what + " state " + std::to_string(i) + "." + name.to_string();
      if (!v.is_tensor()) continue;
      const Tensor& t = v.to_tensor();
      const bool step = name.to_string() == "step";
      if (t.device() != (step ? kCPU : device))
        return ::testing::AssertionFailure() << n << " is on " << t.device().str();
      if (t.dtype() != (step ? DType::Float32 : dtype))
        return ::testing::AssertionFailure() << n << " is " << dtype_name(t.dtype());
      auto m = matches_cpu(t, r[i].second.at(name).to_tensor(), step ? kCPU : device, n);
      if (!m) return m;
    }
  }
  return ::testing::AssertionSuccess();
}

// A deep copy of an optimizer state_dict (whose tensors are the live state), with floating
// tensors other than 'step' converted to `dtype` when given.
Value snapshot(const Value& v, std::optional<DType> dtype = std::nullopt) {
  return tandem::testing::map_tensors(v, [&](const Tensor& t, const std::string& key) {
    return dtype && key != "step" && is_floating(t.dtype()) ? t.to(*dtype).clone() : t.clone();
  });
}

}  // namespace

// Every fixture optimizer (SGD with momentum, dampening, nesterov, weight decay, maximize; Adam,
// AdamW, amsgrad) in float64 and float32: 25 steps on the device equal the CPU's, step by step.
TEST_P(OptimOnDevice, TrajectoriesEqualTheCpus) {
  for (DType dtype : {DType::Float64, DType::Float32}) {
    for (const std::string& key : kFixtureOptimizers) {
      const json& c = fixture()["optimizers"][key];
      const std::string what = key + " " + dtype_name(dtype);
      auto on_cpu = params_on(kCPU, dtype), on_device = params_on(device(), dtype);
      auto opt_cpu = make(c["name"], c["kwargs"], on_cpu);
      auto opt_device = make(c["name"], c["kwargs"], on_device);
      for (int s = 0; s < kSteps; ++s) {
        steps(*opt_cpu, on_cpu, s, s + 1);
        steps(*opt_device, on_device, s, s + 1);
        ASSERT_TRUE(params_match(on_device, on_cpu, device(), what + " step " + std::to_string(s)));
      }
      EXPECT_TRUE(
          state_matches(opt_device->state_dict(), opt_cpu->state_dict(), device(), dtype, what));
    }
  }
}

// A checkpoint's optimizer state moves between devices as PyTorch's Optimizer.load_state_dict
// moves it: CPU state (a file's) loaded into an optimizer over device parameters lands on their
// device and in their dtype (float64 state into float32 parameters too), Adam's 'step' stays a
// float32 CPU tensor; a device optimizer's state loads into a CPU optimizer. Either way training
// continues as the uninterrupted CPU run.
TEST_P(OptimOnDevice, StateMovesToTheParametersDeviceOnLoad) {
  for (const std::string& key : kFixtureOptimizers) {
    const json& c = fixture()["optimizers"][key];
    for (DType dtype : {DType::Float64, DType::Float32}) {
      const std::string what = key + " " + dtype_name(dtype);
      // The uninterrupted CPU run (25 steps) and a device run (10 steps).
      auto ref = params_on(kCPU, dtype), dev = params_on(device(), dtype);
      auto opt_ref = make(c["name"], c["kwargs"], ref);
      auto opt_dev = make(c["name"], c["kwargs"], dev);
      steps(*opt_ref, ref, 0, 10);
      steps(*opt_dev, dev, 0, 10);
      const Value cpu_at10 = snapshot(opt_ref->state_dict());
      const Value dev_at10 = snapshot(opt_dev->state_dict());
      steps(*opt_ref, ref, 10, kSteps);
      // What a float64 checkpoint holds, for float32 parameters.
      auto ref64 = params_on(kCPU, DType::Float64);
      auto opt64 = make(c["name"], c["kwargs"], ref64);
      steps(*opt64, ref64, 0, 10);

      // CPU state -> an optimizer over device parameters.
      auto resumed = params_on(device(), dtype);
      for (size_t i = 0; i < resumed.size(); ++i) {
        NoGradGuard g;
        resumed[i].copy_(dev[i]);
      }
      auto opt_resumed = make(c["name"], c["kwargs"], resumed);
      opt_resumed->load_state_dict(cpu_at10);
      EXPECT_TRUE(state_matches(opt_resumed->state_dict(), cpu_at10, device(), dtype, what));
      steps(*opt_resumed, resumed, 10, kSteps);
      EXPECT_TRUE(params_match(resumed, ref, device(), what + " resumed on the device"));
      if (dtype == DType::Float32) {
        auto from64 = params_on(device(), dtype);
        auto opt_from64 = make(c["name"], c["kwargs"], from64);
        opt_from64->load_state_dict(snapshot(opt64->state_dict()));
        EXPECT_TRUE(state_matches(opt_from64->state_dict(),
                                  snapshot(opt64->state_dict(), DType::Float32), device(), dtype,
                                  what + " from float64 state"));
      }

      // Device state -> an optimizer over CPU parameters.
      auto back = params_on(kCPU, dtype);
      for (size_t i = 0; i < back.size(); ++i) {
        NoGradGuard g;
        back[i].copy_(dev[i]);
      }
      auto opt_back = make(c["name"], c["kwargs"], back);
      opt_back->load_state_dict(dev_at10);
      EXPECT_TRUE(state_matches(opt_back->state_dict(), dev_at10, kCPU, dtype, what));
      steps(*opt_back, back, 10, kSteps);
      EXPECT_TRUE(params_match(back, ref, kCPU, what + " resumed on the CPU", device()));
    }
  }
}

// clip_grad_norm_ (norms 2, 1 and inf) and clip_grad_value_ on PyTorch's gradients, on each
// device: the total norm and the clipped gradients equal PyTorch's.
TEST_P(OptimOnDevice, ClipGradNormAndValueMatchPyTorch) {
  std::ifstream f(tandem::testing::fixture_path("clip_grad.json"));
  const json c = json::parse(f);
  auto params = [&] {
    std::vector<Tensor> ps{
        zeros({3, 4}, TensorOptions(DType::Float64, device())).set_requires_grad(true),
        zeros({5}, TensorOptions(DType::Float64, device())).set_requires_grad(true)};
    for (size_t i = 0; i < 2; ++i)
      ps[i].set_grad(from_vector(c["grads"][i].get<std::vector<double>>(), ps[i].sizes(),
                                 TensorOptions(DType::Float64))
                         .to(device()));
    return ps;
  };
  for (const auto& k : c["cases"]) {
    auto ps = params();
    const double nt = std::stod(k["norm_type"].get<std::string>());
    const Tensor total = optim::clip_grad_norm_(ps, 1.5, nt);
    EXPECT_EQ(total.device(), device());
    EXPECT_EQ(total.dim(), 0);
    EXPECT_NEAR(total.item(), k["total"].get<double>(), 1e-12);
    for (size_t i = 0; i < 2; ++i) {
      auto got = ps[i].grad().to_vector();
      auto want = k["clipped"][i].get<std::vector<double>>();
      for (size_t j = 0; j < got.size(); ++j) EXPECT_NEAR(got[j], want[j], 1e-12);
    }
  }
  auto ps = params();
  optim::clip_grad_value_(ps, 0.5);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_EQ(ps[i].grad().to_vector(), c["value"][i].get<std::vector<double>>());
  auto bad = params();
  bad[0].set_grad(full({3, 4}, INFINITY, TensorOptions(DType::Float64, device())));
  EXPECT_THROW(optim::clip_grad_norm_(bad, 1.0, 2.0, true), Error);
}

// float32 gradients: the norm comes back as float32 and the factor is computed in float32, as
// PyTorch's (a factor computed in float64 and rounded gives other last bits).
TEST_P(OptimOnDevice, ClipGradNormOfFloat32GradientsWorksInFloat32) {
  std::ifstream f(tandem::testing::fixture_path("clip_grad.json"));
  const json c = json::parse(f)["float32"];
  ASSERT_EQ(c["cases"].size(), 3u);
  for (const auto& k : c["cases"]) {
    std::vector<Tensor> ps;
    for (size_t i = 0; i < 2; ++i) {
      const Shape shape = c["shapes"][i].get<Shape>();
      ps.push_back(zeros(shape, TensorOptions(DType::Float32, device())).set_requires_grad(true));
      ps[i].set_grad(from_vector(c["grads"][i].get<std::vector<double>>(), shape).to(device()));
    }
    const std::string nt = k["norm_type"];
    const Tensor total = optim::clip_grad_norm_(ps, 1.5, std::stod(nt));
    EXPECT_EQ(total.dtype(), DType::Float32) << nt;
    EXPECT_EQ(total.item(), k["total"].get<double>()) << nt;
    for (size_t i = 0; i < 2; ++i)
      EXPECT_EQ(ps[i].grad().to_vector(), k["clipped"][i].get<std::vector<double>>()) << nt;
  }
  EXPECT_EQ(optim::clip_grad_norm_({}, 1.0).dtype(), DType::Float32);
}

// One optimizer over parameters on two GPUs (cuda:0 and cuda:1, alternating), their gradients
// clipped together: each device's parameters are updated in their own kernel call, on their own
// device, and every optimizer gives the CPU's trajectory. (Adam's first step creates its state on
// cuda:1 between updates of cuda:0's parameters; the emulated device refuses a launch on a device
// that is not current.)
TEST(OptimOnTwoDevices, EachDevicesParametersAreUpdatedOnThatDevice) {
  if (kernels::device::cuda_runtime().device_count() < 2)
    GTEST_SKIP() << "needs two CUDA devices (TANDEM_EMULATE_CUDA=2 emulates them)";
  for (const std::string& key : kFixtureOptimizers) {
    const json& c = fixture()["optimizers"][key];
    auto on_cpu = params_on(kCPU, DType::Float64);
    std::vector<Tensor> split;
    for (size_t i = 0; i < on_cpu.size(); ++i)
      split.push_back(params_on(Device(i % 2 ? "cuda:1" : "cuda:0"), DType::Float64)[i]);
    auto opt_cpu = make(c["name"], c["kwargs"], on_cpu);
    auto opt_split = make(c["name"], c["kwargs"], split);
    for (int s = 0; s < 3; ++s) {
      set_grads_like(on_cpu, s);
      set_grads_like(split, s);
      // Clipping over both devices too: the norm gathers on cuda:0, each device scales its own.
      const double cpu_norm = optim::clip_grad_norm_(on_cpu, 0.5).item();
      const Tensor split_norm = optim::clip_grad_norm_(split, 0.5);
      ASSERT_EQ(split_norm.device(), split[0].device());
      ASSERT_NEAR(split_norm.item(), cpu_norm, 1e-12) << key << " step " << s;
      opt_cpu->step();
      opt_split->step();
      for (size_t i = 0; i < split.size(); ++i) {
        ASSERT_EQ(split[i].device().index, int(i % 2)) << key;
        ASSERT_TRUE(
            matches_cpu(split[i], on_cpu[i], split[i].device(),
                        key + " step " + std::to_string(s) + " param " + std::to_string(i)));
      }
    }
  }
}

TANDEM_INSTANTIATE_DEVICE_TEST(OptimOnDevice);
