// Optimizers and schedulers against PyTorch 1.13 (tests/fixtures/optim.json, made by
// tests/fixtures/make_optim.py): 25-step trajectories, 100-step LR schedules, state_dict
// layouts, PyTorch state_dicts loaded and continued, and bit-exact save/resume.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "framework/autograd/grad_mode.h"
#include "framework/ops/elementwise.h"
#include "framework/optim/adam.h"
#include "framework/optim/clip_grad.h"
#include "framework/optim/factory.h"
#include "framework/optim/sgd.h"
#include "framework/tensor/factories.h"
#include "tests/fixtures_dir.h"

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
  for (size_t i = 0; i < ps.size(); ++i) {
    auto got = ps[i].to_vector();
    auto exp = want[i].get<std::vector<double>>();
    for (size_t k = 0; k < got.size(); ++k)
      ASSERT_NEAR(got[k], exp[k], tol) << what << " param " << i << "[" << k << "]";
  }
}

}  // namespace

TEST(Optim, TrajectoriesMatchPyTorch) {
  for (const auto& [key, c] : fixture()["optimizers"].items()) {
    auto ps = initial_params();
    auto opt = make(c["name"], c["kwargs"], ps);
    for (int step = 0; step < 25; ++step) {
      set_grads(ps, step);
      opt->step();
      expect_params(ps, c["params"][step], 1e-12, key + " step " + std::to_string(step + 1));
    }
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

TEST(ClipGrad, NormAndValueMatchPyTorch) {
  std::ifstream f(tandem::testing::fixture_path("clip_grad.json"));
  const json c = json::parse(f);
  auto params = [&] {
    std::vector<Tensor> ps{zeros({3, 4}, TensorOptions(DType::Float64)).set_requires_grad(true),
                           zeros({5}, TensorOptions(DType::Float64)).set_requires_grad(true)};
    for (size_t i = 0; i < 2; ++i)
      ps[i].set_grad(from_vector(c["grads"][i].get<std::vector<double>>(), ps[i].sizes(),
                                 TensorOptions(DType::Float64)));
    return ps;
  };
  for (const auto& k : c["cases"]) {
    auto ps = params();
    const double nt = std::stod(k["norm_type"].get<std::string>());
    EXPECT_NEAR(optim::clip_grad_norm_(ps, 1.5, nt), k["total"].get<double>(), 1e-12);
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
  bad[0].set_grad(full({3, 4}, INFINITY, TensorOptions(DType::Float64)));
  EXPECT_THROW(optim::clip_grad_norm_(bad, 1.0, 2.0, true), Error);
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
