// Config-driven construction of optimizers and schedulers.
#include "framework/optim/factory.h"

#include <cmath>
#include <set>

#include "framework/core/text.h"
#include "framework/optim/adam.h"
#include "framework/optim/sgd.h"

namespace tandem::optim {
namespace {

// Reads arguments from a spec dict, remembering which keys were used so leftovers are errors.
class Args {
 public:
  Args(const Value& spec, std::string section) : spec_(spec), section_(std::move(section)) {
    TANDEM_CHECK(spec.is_dict(), section_, ": expected a mapping");
  }
  double number(const char* key, double fallback) {
    if (!has(key)) return fallback;
    const Value& v = get(key);
    if (!v.is_number()) TANDEM_FAIL(section_, ".", key, ": expected a number, got ", v.repr(100));
    return v.to_double();
  }
  int64_t integer(const char* key, int64_t fallback) {
    if (!has(key)) return fallback;
    const Value& v = get(key);
    // A whole float (1e3) counts; converting one outside int64's range would be undefined.
    if (v.is_double() && std::fabs(v.to_double()) < 9.2e18 &&
        v.to_double() == double(int64_t(v.to_double())))
      return int64_t(v.to_double());
    if (!v.is_int()) TANDEM_FAIL(section_, ".", key, ": expected an integer, got ", v.repr(100));
    return v.to_int();
  }
  bool boolean(const char* key, bool fallback) {
    if (!has(key)) return fallback;
    const Value& v = get(key);
    if (!v.is_bool()) TANDEM_FAIL(section_, ".", key, ": expected true or false, got ", v.repr());
    return v.to_bool();
  }
  std::string text(const char* key, const std::string& fallback) {
    if (!has(key)) return fallback;
    const Value& v = get(key);
    if (!v.is_string()) TANDEM_FAIL(section_, ".", key, ": expected a name, got ", v.repr(100));
    return v.to_string();
  }
  std::vector<double> numbers(const char* key, std::vector<double> fallback) {
    if (!has(key)) return fallback;
    const Value& v = get(key);
    if (v.is_number()) return {v.to_double()};
    if (!v.is_list() && !v.is_tuple())
      TANDEM_FAIL(section_, ".", key, ": expected a number or a list of numbers, got ",
                  v.repr(100));
    std::vector<double> out;
    for (const auto& x : v.items()) {
      if (!x.is_number()) TANDEM_FAIL(section_, ".", key, ": expected numbers, got ", x.repr(100));
      out.push_back(x.to_double());
    }
    return out;
  }
  bool has(const char* key) {
    known_.insert(key);
    return spec_.contains(Value(key));
  }
  // Throws for keys nobody asked for, suggesting the closest known one.
  void finish() {
    std::vector<std::string> valid(known_.begin(), known_.end());
    for (const auto& [k, v] : spec_.dict_items()) {
      const std::string key = k.to_string();
      if (key == "name" || known_.count(key)) continue;
      const std::string guess = closest_match(key, valid);
      std::string list;
      for (const auto& s : valid) list += (list.empty() ? "" : ", ") + s;
      throw Error(section_ + "." + key + ": unknown argument for " + spec_.at("name").to_string(),
                  (guess.empty() ? "" : "did you mean '" + section_ + "." + guess + "'? ") +
                      "valid: " + list);
    }
  }

 private:
  const Value& get(const char* key) { return spec_.at(Value(key)); }
  const Value& spec_;
  std::string section_;
  std::set<std::string> known_;
};

std::string spec_name(const Value& spec, const char* section) {
  if (!spec.is_dict() || !spec.contains("name")) TANDEM_FAIL(section, ".name: missing");
  return spec.at("name").to_string();
}

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const Value& spec, std::vector<Tensor> params) {
  const std::string name = spec_name(spec, "optimizer");
  Args a(spec, "optimizer");
  if (name == "sgd") {
    SgdOptions o;
    o.lr = a.number("lr", o.lr);
    o.momentum = a.number("momentum", o.momentum);
    o.dampening = a.number("dampening", o.dampening);
    o.weight_decay = a.number("weight_decay", o.weight_decay);
    o.nesterov = a.boolean("nesterov", o.nesterov);
    o.maximize = a.boolean("maximize", o.maximize);
    a.finish();
    return std::make_unique<SGD>(std::move(params), o);
  }
  if (name == "adam" || name == "adamw") {
    AdamOptions o = name == "adamw" ? AdamW::default_options() : AdamOptions{};
    o.lr = a.number("lr", o.lr);
    const auto betas = a.numbers("betas", {o.betas.first, o.betas.second});
    TANDEM_CHECK(betas.size() == 2, "optimizer.betas: expected two numbers");
    o.betas = {betas[0], betas[1]};
    o.eps = a.number("eps", o.eps);
    o.weight_decay = a.number("weight_decay", o.weight_decay);
    o.amsgrad = a.boolean("amsgrad", o.amsgrad);
    o.maximize = a.boolean("maximize", o.maximize);
    a.finish();
    return std::make_unique<Adam>(std::move(params), o, name == "adamw");
  }
  const std::string guess = closest_match(name, {"sgd", "adam", "adamw"});
  throw Error("optimizer.name: unknown optimizer '" + name + "'",
              (guess.empty() ? "" : "did you mean '" + guess + "'? ") + "valid: sgd, adam, adamw");
}

std::string scheduler_interval(const Value& spec) {
  if (spec.is_none()) return "epoch";
  if (const Value* i = spec.find("interval")) {
    const std::string s = i->to_string();
    if (s != "epoch" && s != "step")
      TANDEM_FAIL("scheduler.interval: expected epoch or step, got '", s, "'");
    return s;
  }
  return spec_name(spec, "scheduler") == "onecyclelr" ? "step" : "epoch";
}

namespace {

std::unique_ptr<LRScheduler> make_main(const std::string& name, Args& a, Optimizer& opt,
                                       int64_t total, int64_t steps_per_epoch) {
  if (name == "steplr") {
    // Required, as StepLR(optimizer, step_size): a default of 1 would decay every epoch.
    TANDEM_CHECK(a.has("step_size"), "scheduler.step_size: required for steplr");
    return std::make_unique<StepLR>(opt, a.integer("step_size", 1), a.number("gamma", 0.1));
  }
  if (name == "multisteplr") {
    std::vector<int64_t> ms;
    for (double m : a.numbers("milestones", {})) ms.push_back(int64_t(m));
    return std::make_unique<MultiStepLR>(opt, ms, a.number("gamma", 0.1));
  }
  if (name == "exponentiallr") {
    TANDEM_CHECK(a.has("gamma"), "scheduler.gamma: required for exponentiallr");
    return std::make_unique<ExponentialLR>(opt, a.number("gamma", 0.1));
  }
  if (name == "cosineannealinglr")
    return std::make_unique<CosineAnnealingLR>(opt, a.integer("T_max", std::max<int64_t>(total, 1)),
                                               a.number("eta_min", 0));
  if (name == "linearlr")
    return std::make_unique<LinearLR>(opt, a.number("start_factor", 1.0 / 3),
                                      a.number("end_factor", 1.0), a.integer("total_iters", 5));
  if (name == "constantlr")
    return std::make_unique<ConstantLR>(opt, a.number("factor", 1.0 / 3),
                                        a.integer("total_iters", 5));
  if (name == "polynomiallr")
    return std::make_unique<PolynomialLR>(
        opt, a.integer("total_iters", std::max<int64_t>(total, 1)), a.number("power", 1.0));
  if (name == "onecyclelr") {
    OneCycleOptions o;
    TANDEM_CHECK(a.has("max_lr"), "scheduler.max_lr: required for onecyclelr");
    o.max_lr = a.number("max_lr", o.max_lr);
    o.total_steps = a.integer("total_steps", 0);
    o.epochs = a.integer("epochs", 0);
    o.steps_per_epoch = a.integer("steps_per_epoch", 0);
    if (o.total_steps == 0 && o.epochs == 0) o.total_steps = total;
    (void)steps_per_epoch;
    o.pct_start = a.number("pct_start", o.pct_start);
    o.anneal_strategy = a.text("anneal_strategy", o.anneal_strategy);
    o.cycle_momentum = a.boolean("cycle_momentum", o.cycle_momentum);
    o.base_momentum = a.number("base_momentum", o.base_momentum);
    o.max_momentum = a.number("max_momentum", o.max_momentum);
    o.div_factor = a.number("div_factor", o.div_factor);
    o.final_div_factor = a.number("final_div_factor", o.final_div_factor);
    o.three_phase = a.boolean("three_phase", o.three_phase);
    return std::make_unique<OneCycleLR>(opt, o);
  }
  if (name == "reducelronplateau") {
    PlateauOptions o;
    o.mode = a.text("mode", o.mode);
    o.factor = a.number("factor", o.factor);
    o.patience = a.integer("patience", o.patience);
    o.threshold = a.number("threshold", o.threshold);
    o.threshold_mode = a.text("threshold_mode", o.threshold_mode);
    o.cooldown = a.integer("cooldown", o.cooldown);
    o.min_lr = a.numbers("min_lr", o.min_lr);
    o.eps = a.number("eps", o.eps);
    return std::make_unique<ReduceLROnPlateau>(opt, o);
  }
  const std::vector<std::string> names{
      "steplr",     "multisteplr",  "exponentiallr", "cosineannealinglr", "linearlr",
      "constantlr", "polynomiallr", "onecyclelr",    "reducelronplateau"};
  const std::string guess = closest_match(name, names);
  throw Error("scheduler.name: unknown scheduler '" + name + "'",
              (guess.empty() ? "" : "did you mean '" + guess + "'? ") +
                  "valid: steplr, multisteplr, exponentiallr, cosineannealinglr, linearlr, "
                  "constantlr, polynomiallr, "
                  "onecyclelr, reducelronplateau (sequentiallr is built with warmup_epochs)");
}

}  // namespace

std::unique_ptr<LRScheduler> make_scheduler(const Value& spec, Optimizer& opt, int64_t total,
                                            int64_t steps_per_epoch) {
  const std::string name = spec_name(spec, "scheduler");
  Args a(spec, "scheduler");
  a.has("interval");  // validated by scheduler_interval
  const bool per_step = scheduler_interval(spec) == "step";
  const int64_t warmup_epochs = a.integer("warmup_epochs", 0);
  const double warmup_start = a.number("warmup_start_factor", 0.1);
  const int64_t warmup = warmup_epochs * (per_step ? steps_per_epoch : 1);
  if (warmup > 0) {
    TANDEM_CHECK(name != "reducelronplateau",
                 "scheduler.warmup_epochs: not supported with reducelronplateau");
    TANDEM_CHECK(warmup < total, "scheduler.warmup_epochs: the warm-up (", warmup,
                 ") must be shorter than the run (", total, ")");
    auto warm = std::make_unique<LinearLR>(opt, warmup_start, 1.0, warmup);
    auto main = make_main(name, a, opt, total - warmup, steps_per_epoch);
    a.finish();
    std::vector<std::unique_ptr<LRScheduler>> parts;
    parts.push_back(std::move(warm));
    parts.push_back(std::move(main));
    return std::make_unique<SequentialLR>(opt, std::move(parts), std::vector<int64_t>{warmup});
  }
  auto s = make_main(name, a, opt, total, steps_per_epoch);
  a.finish();
  return s;
}

}  // namespace tandem::optim
