// LR schedulers (see lr_scheduler.h). Formulas mirror torch/optim/lr_scheduler.py in 1.13.
#include "framework/optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tandem::optim {
namespace {

int64_t py_mod(int64_t a, int64_t m) { return ((a % m) + m) % m; }  // Python's % (m > 0)

Value list_of(const std::vector<double>& v) {
  Value l = Value::list();
  for (double x : v) l.append(Value(x));
  return l;
}

// Python's float division and power, whose ZeroDivisionError PyTorch's schedulers raise where
// their arguments make a formula divide by zero (a OneCycleLR phase of no steps, ConstantLR's
// factor 0, ...); in C++ the lr would silently become inf or nan and the run train on with it.
double py_div(double a, double b, const char* scheduler) {
  TANDEM_CHECK(b != 0, scheduler, ": float division by zero (its arguments make a step divide ",
               "by zero; PyTorch raises ZeroDivisionError here)");
  return a / b;
}
double py_pow(double base, double exponent, const char* scheduler) {
  TANDEM_CHECK(
      !(base == 0 && exponent < 0), scheduler,
      ": 0.0 cannot be raised to a negative power (PyTorch raises ZeroDivisionError here)");
  return std::pow(base, exponent);
}

// Bounds for loaded epoch and step counters: far beyond any run, and far from int64 overflow in
// the arithmetic on them (last_epoch - 1 - T_max, 2 * T_max, ...).
constexpr int64_t kMaxCount = int64_t(1) << 53;

}  // namespace

// --- base ---------------------------------------------------------------------------------------

LRScheduler::LRScheduler(Optimizer& optimizer, bool set_initial_lr) : opt_(optimizer) {
  if (!set_initial_lr) return;
  for (auto& g : opt_.param_groups()) {
    if (!g.options.contains("initial_lr")) g.options.set("initial_lr", g.options.at("lr"));
    base_lrs_.push_back(g.get("initial_lr"));
  }
}

std::vector<double> LRScheduler::group_lrs() const {
  std::vector<double> lrs;
  for (const auto& g : opt_.param_groups()) lrs.push_back(g.get("lr"));
  return lrs;
}

void LRScheduler::apply(const std::vector<double>& lrs) {
  for (size_t i = 0; i < lrs.size(); ++i) opt_.set_lr(i, lrs[i]);
  last_lr_ = group_lrs();
}

void LRScheduler::initial_step() {
  step_count_ = 0;
  step();
}

void LRScheduler::step() {
  ++step_count_;
  ++last_epoch_;
  apply(get_lr());
}

void LRScheduler::step(double) { throw Error(name() + ".step() takes no metric"); }

void LRScheduler::step_to(int64_t epoch) {
  ++step_count_;
  last_epoch_ = epoch;
  apply(closed_form_lr());
}

Value LRScheduler::state_dict() const {
  Value d = Value::dict();
  own_state(d);
  d.set("base_lrs", list_of(base_lrs_));
  d.set("last_epoch", Value(last_epoch_));
  d.set("verbose", false);
  d.set("_step_count", Value(step_count_));
  d.set("_get_lr_called_within_step", false);
  d.set("_last_lr", list_of(last_lr_));
  return d;
}

void LRScheduler::load_state_dict(const Value& s, const std::string& where) {
  const StateFields f(s, where);
  const Value before = state_dict();
  try {
    load_state(f);
  } catch (...) {
    load_state(StateFields(before, where));  // what this scheduler wrote itself: valid
    throw;
  }
}

void LRScheduler::check_state_dict(const Value& s, const std::string& where) {
  const Value before = state_dict();
  load_state_dict(s, where);  // restores `before` itself when it throws
  load_state(StateFields(before, where));
}

void LRScheduler::load_state(const StateFields& f) {
  load_own_state(f);
  const size_t groups = opt_.param_groups().size();
  f.numbers("base_lrs", base_lrs_, groups);
  f.integer("last_epoch", last_epoch_, -1, kMaxCount);
  f.integer("_step_count", step_count_, 0, kMaxCount);
  f.numbers("_last_lr", last_lr_, groups);
}

// --- StepLR -------------------------------------------------------------------------------------

StepLR::StepLR(Optimizer& opt, int64_t step_size, double gamma)
    : LRScheduler(opt), step_size_(step_size), gamma_(gamma) {
  TANDEM_CHECK(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
  initial_step();
}
std::vector<double> StepLR::get_lr() {
  auto lrs = group_lrs();
  if (last_epoch_ == 0 || last_epoch_ % step_size_ != 0) return lrs;
  for (auto& lr : lrs) lr *= gamma_;
  return lrs;
}
std::vector<double> StepLR::closed_form_lr() {
  std::vector<double> out;
  for (double b : base_lrs_) out.push_back(b * std::pow(gamma_, double(last_epoch_ / step_size_)));
  return out;
}
void StepLR::own_state(Value& d) const {
  d.set("step_size", Value(step_size_));
  d.set("gamma", gamma_);
}
void StepLR::load_own_state(const StateFields& f) {
  f.integer("step_size", step_size_, 1, kMaxCount);  // a divisor
  f.number("gamma", gamma_);
}

// --- MultiStepLR --------------------------------------------------------------------------------

MultiStepLR::MultiStepLR(Optimizer& opt, std::vector<int64_t> milestones, double gamma)
    : LRScheduler(opt), gamma_(gamma) {
  for (int64_t m : milestones) {  // a Counter keeps first-seen order
    auto it = std::find_if(milestones_.begin(), milestones_.end(),
                           [m](const auto& p) { return p.first == m; });
    if (it == milestones_.end())
      milestones_.emplace_back(m, 1);
    else
      ++it->second;
  }
  initial_step();
}
std::vector<double> MultiStepLR::get_lr() {
  auto lrs = group_lrs();
  auto it = std::find_if(milestones_.begin(), milestones_.end(),
                         [&](const auto& p) { return p.first == last_epoch_; });
  if (it == milestones_.end()) return lrs;
  for (auto& lr : lrs) lr *= std::pow(gamma_, double(it->second));
  return lrs;
}
std::vector<double> MultiStepLR::closed_form_lr() {
  // bisect_right(sorted(milestones), last_epoch): milestones <= last_epoch, counted with
  // their multiplicity (without expanding the Counter, whose counts come from a file).
  double k = 0;
  for (const auto& [m, c] : milestones_)
    if (m <= last_epoch_) k += double(c);
  std::vector<double> out;
  for (double b : base_lrs_) out.push_back(b * std::pow(gamma_, double(k)));
  return out;
}
void MultiStepLR::own_state(Value& d) const {
  Value counter = Value::dict();
  for (const auto& [m, c] : milestones_) counter.set(Value(m), Value(c));
  d.set("milestones", counter);
  d.set("gamma", gamma_);
}
void MultiStepLR::load_own_state(const StateFields& f) {
  if (const Value* v = f.find("milestones")) {
    if (!v->is_dict()) f.fail("milestones", "expected a Counter (a dict milestone -> count)");
    std::vector<std::pair<int64_t, int64_t>> milestones;
    for (const auto& [k, c] : v->dict_items()) {
      const int64_t m = int_key(k, f.where() + ".milestones");
      if (!c.is_int() || c.to_int() < 0 || c.to_int() > kMaxCount)
        f.fail("milestones", "the count of milestone " + std::to_string(m) + " is " + c.repr(100));
      milestones.emplace_back(m, c.to_int());
    }
    milestones_ = std::move(milestones);
  }
  f.number("gamma", gamma_);
}

// --- ExponentialLR ------------------------------------------------------------------------------

ExponentialLR::ExponentialLR(Optimizer& opt, double gamma) : LRScheduler(opt), gamma_(gamma) {
  initial_step();
}
std::vector<double> ExponentialLR::get_lr() {
  auto lrs = group_lrs();
  if (last_epoch_ == 0) return lrs;
  for (auto& lr : lrs) lr *= gamma_;
  return lrs;
}
std::vector<double> ExponentialLR::closed_form_lr() {
  std::vector<double> out;
  for (double b : base_lrs_) out.push_back(b * std::pow(gamma_, double(last_epoch_)));
  return out;
}
void ExponentialLR::own_state(Value& d) const { d.set("gamma", gamma_); }
void ExponentialLR::load_own_state(const StateFields& f) { f.number("gamma", gamma_); }

// --- CosineAnnealingLR --------------------------------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(Optimizer& opt, int64_t T_max, double eta_min)
    : LRScheduler(opt), T_max_(T_max), eta_min_(eta_min) {
  TANDEM_CHECK(T_max > 0, "CosineAnnealingLR: T_max must be positive, got ", T_max);
  initial_step();
}
std::vector<double> CosineAnnealingLR::get_lr() {
  auto lrs = group_lrs();
  const double e = double(last_epoch_), T = double(T_max_);
  if (last_epoch_ == 0) return lrs;
  if (step_count_ == 1 && last_epoch_ > 0) {
    for (size_t i = 0; i < lrs.size(); ++i)
      lrs[i] = eta_min_ + (base_lrs_[i] - eta_min_) * (1 + std::cos(e * M_PI / T)) / 2;
    return lrs;
  }
  if (py_mod(last_epoch_ - 1 - T_max_, 2 * T_max_) == 0) {
    for (size_t i = 0; i < lrs.size(); ++i)
      lrs[i] = lrs[i] + (base_lrs_[i] - eta_min_) * (1 - std::cos(M_PI / T)) / 2;
    return lrs;
  }
  for (auto& lr : lrs)
    lr = (1 + std::cos(M_PI * e / T)) / (1 + std::cos(M_PI * (e - 1) / T)) * (lr - eta_min_) +
         eta_min_;
  return lrs;
}
std::vector<double> CosineAnnealingLR::closed_form_lr() {
  std::vector<double> out;
  for (double b : base_lrs_)
    out.push_back(eta_min_ +
                  (b - eta_min_) * (1 + std::cos(M_PI * double(last_epoch_) / double(T_max_))) / 2);
  return out;
}
void CosineAnnealingLR::own_state(Value& d) const {
  d.set("T_max", Value(T_max_));
  d.set("eta_min", eta_min_);
}
void CosineAnnealingLR::load_own_state(const StateFields& f) {
  f.integer("T_max", T_max_, 1, kMaxCount);  // a divisor (and 2 * T_max a modulus)
  f.number("eta_min", eta_min_);
}

// --- LinearLR -----------------------------------------------------------------------------------

LinearLR::LinearLR(Optimizer& opt, double start_factor, double end_factor, int64_t total_iters)
    : LRScheduler(opt), start_(start_factor), end_(end_factor), total_iters_(total_iters) {
  if (start_factor > 1.0 || start_factor <= 0)
    throw Error(
        "Starting multiplicative factor expected to be greater than 0 and less or equal to 1.");
  if (end_factor > 1.0 || end_factor < 0)
    throw Error("Ending multiplicative factor expected to be between 0 and 1.");
  initial_step();
}
std::vector<double> LinearLR::get_lr() {
  auto lrs = group_lrs();
  if (last_epoch_ == 0) {
    for (auto& lr : lrs) lr *= start_;
    return lrs;
  }
  if (last_epoch_ > total_iters_) return lrs;
  const double f =
      1. + py_div(end_ - start_,
                  double(total_iters_) * start_ + double(last_epoch_ - 1) * (end_ - start_),
                  "LinearLR");
  for (auto& lr : lrs) lr *= f;
  return lrs;
}
std::vector<double> LinearLR::closed_form_lr() {
  std::vector<double> out;
  // Python's left-to-right order: (end - start) * min(T, e) / T.
  const double step = (end_ - start_) * double(std::min(total_iters_, last_epoch_));
  const double f = start_ + py_div(step, double(total_iters_), "LinearLR");
  for (double b : base_lrs_) out.push_back(b * f);
  return out;
}
void LinearLR::own_state(Value& d) const {
  d.set("start_factor", start_);
  d.set("end_factor", end_);
  d.set("total_iters", Value(total_iters_));
}
void LinearLR::load_own_state(const StateFields& f) {
  f.number("start_factor", start_);
  f.number("end_factor", end_);
  f.integer("total_iters", total_iters_, 0, kMaxCount);
}

// --- ConstantLR ---------------------------------------------------------------------------------

ConstantLR::ConstantLR(Optimizer& opt, double factor, int64_t total_iters)
    : LRScheduler(opt), factor_(factor), total_iters_(total_iters) {
  if (factor > 1.0 || factor < 0)
    throw Error("Constant multiplicative factor expected to be between 0 and 1.");
  initial_step();
}
std::vector<double> ConstantLR::get_lr() {
  auto lrs = group_lrs();
  if (last_epoch_ == 0) {
    for (auto& lr : lrs) lr *= factor_;
  } else if (last_epoch_ == total_iters_) {
    for (auto& lr : lrs) lr *= py_div(1.0, factor_, "ConstantLR");
  }
  return lrs;
}
std::vector<double> ConstantLR::closed_form_lr() {
  std::vector<double> out;
  for (double b : base_lrs_)
    out.push_back(b * (factor_ + (last_epoch_ >= total_iters_ ? 1.0 : 0.0) * (1 - factor_)));
  return out;
}
void ConstantLR::own_state(Value& d) const {
  d.set("factor", factor_);
  d.set("total_iters", Value(total_iters_));
}
void ConstantLR::load_own_state(const StateFields& f) {
  f.number("factor", factor_);
  f.integer("total_iters", total_iters_, 0, kMaxCount);
}

// --- PolynomialLR -------------------------------------------------------------------------------

PolynomialLR::PolynomialLR(Optimizer& opt, int64_t total_iters, double power)
    : LRScheduler(opt), total_iters_(total_iters), power_(power) {
  initial_step();
}
std::vector<double> PolynomialLR::get_lr() {
  auto lrs = group_lrs();
  if (last_epoch_ == 0 || last_epoch_ > total_iters_) return lrs;
  const double T = double(total_iters_), e = double(last_epoch_);
  const double f = py_pow((1.0 - e / T) / (1.0 - (e - 1) / T), power_, "PolynomialLR");
  for (auto& lr : lrs) lr *= f;
  return lrs;
}
std::vector<double> PolynomialLR::closed_form_lr() {
  std::vector<double> out;
  const double k =
      py_div(double(std::min(total_iters_, last_epoch_)), double(total_iters_), "PolynomialLR");
  for (double b : base_lrs_) out.push_back(b * py_pow(1.0 - k, power_, "PolynomialLR"));
  return out;
}
void PolynomialLR::own_state(Value& d) const {
  d.set("total_iters", Value(total_iters_));
  d.set("power", power_);
}
void PolynomialLR::load_own_state(const StateFields& f) {
  f.integer("total_iters", total_iters_, 0, kMaxCount);
  f.number("power", power_);
}

// --- OneCycleLR ---------------------------------------------------------------------------------

OneCycleLR::OneCycleLR(Optimizer& opt, const OneCycleOptions& o)
    : LRScheduler(opt, /*set_initial_lr=*/false) {
  if (o.total_steps > 0)
    total_steps_ = o.total_steps;
  else if (o.epochs > 0 && o.steps_per_epoch > 0)
    total_steps_ = o.epochs * o.steps_per_epoch;
  else
    throw Error("You must define either total_steps OR (epochs AND steps_per_epoch)");
  if (o.pct_start < 0 || o.pct_start > 1)
    TANDEM_FAIL("Expected float between 0 and 1 pct_start, but got ", o.pct_start);
  if (o.anneal_strategy != "cos" && o.anneal_strategy != "linear")
    TANDEM_FAIL("anneal_strategy must by one of 'cos' or 'linear', instead got ",
                o.anneal_strategy);
  anneal_strategy_ = o.anneal_strategy;
  const double T = double(total_steps_);
  if (o.three_phase) {
    phases_ = {{o.pct_start * T - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
               {2 * o.pct_start * T - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"},
               {T - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"}};
  } else {
    phases_ = {{o.pct_start * T - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
               {T - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"}};
  }
  for (auto& g : opt_.param_groups()) {
    const double initial = o.max_lr / o.div_factor;
    g.options.set("initial_lr", initial);
    g.options.set("max_lr", o.max_lr);
    g.options.set("min_lr", initial / o.final_div_factor);
  }
  cycle_momentum_ = o.cycle_momentum;
  use_beta1_ = false;
  if (cycle_momentum_) {
    const Value& d = opt_.defaults();
    if (!d.contains("momentum") && !d.contains("betas"))
      throw Error("optimizer must support momentum or beta1 with `cycle_momentum` option enabled");
    use_beta1_ = d.contains("betas");
    for (auto& g : opt_.param_groups()) {
      if (use_beta1_) {
        const double b2 = g.options.at("betas").items().at(1).to_double();
        g.options.set("betas", Value::tuple({Value(o.max_momentum), Value(b2)}));
      } else {
        g.options.set("momentum", o.max_momentum);
      }
      g.options.set("max_momentum", o.max_momentum);
      g.options.set("base_momentum", o.base_momentum);
    }
  }
  for (const auto& g : opt_.param_groups()) base_lrs_.push_back(g.get("initial_lr"));
  initial_step();
}

double OneCycleLR::anneal(double start, double end, double pct) const {
  if (anneal_strategy_ == "cos") return end + (start - end) / 2.0 * (std::cos(M_PI * pct) + 1);
  return (end - start) * pct + start;
}

std::vector<double> OneCycleLR::get_lr() {
  const int64_t step = last_epoch_;
  if (step > total_steps_)
    TANDEM_FAIL("Tried to step ", step, " times. The specified number of total steps is ",
                total_steps_);
  std::vector<double> lrs;
  for (auto& g : opt_.param_groups()) {
    double start_step = 0, lr = 0, momentum = 0;
    for (size_t i = 0; i < phases_.size(); ++i) {
      const Phase& ph = phases_[i];
      if (double(step) <= ph.end_step || i + 1 == phases_.size()) {
        const double pct =
            py_div(double(step) - start_step, ph.end_step - start_step, "OneCycleLR");
        lr = anneal(g.get(ph.start_lr.c_str()), g.get(ph.end_lr.c_str()), pct);
        if (cycle_momentum_)
          momentum = anneal(g.get(ph.start_momentum.c_str()), g.get(ph.end_momentum.c_str()), pct);
        break;
      }
      start_step = ph.end_step;
    }
    lrs.push_back(lr);
    if (cycle_momentum_) {
      if (use_beta1_) {
        const double b2 = g.options.at("betas").items().at(1).to_double();
        g.options.set("betas", Value::tuple({Value(momentum), Value(b2)}));
      } else {
        g.options.set("momentum", momentum);
      }
    }
  }
  return lrs;
}

void OneCycleLR::own_state(Value& d) const {
  d.set("total_steps", Value(total_steps_));
  Value phases = Value::list();
  for (const auto& ph : phases_) {
    Value p = Value::dict();
    p.set("end_step", ph.end_step);
    p.set("start_lr", ph.start_lr);
    p.set("end_lr", ph.end_lr);
    p.set("start_momentum", ph.start_momentum);
    p.set("end_momentum", ph.end_momentum);
    phases.append(p);
  }
  d.set("_schedule_phases", phases);
  d.set("_anneal_func_type", anneal_strategy_);  // PyTorch main's key (1.13 pickled a method)
  d.set("cycle_momentum", cycle_momentum_);
  d.set("use_beta1", use_beta1_);
}

void OneCycleLR::load_own_state(const StateFields& f) {
  f.integer("total_steps", total_steps_, 1, kMaxCount);
  f.text("_anneal_func_type", anneal_strategy_, {"cos", "linear"});
  f.flag("cycle_momentum", cycle_momentum_);
  f.flag("use_beta1", use_beta1_);
  if (cycle_momentum_ && !opt_.defaults().contains(use_beta1_ ? "betas" : "momentum"))
    f.fail("use_beta1", std::string("the optimizer has no ") + (use_beta1_ ? "betas" : "momentum"));
  if (const Value* v = f.find("_schedule_phases")) {
    // Each phase anneals between two of the group options OneCycleLR sets.
    auto option = [&](const Value& p, const char* key) {
      const Value* n = p.find(Value(key));
      if (!n || !n->is_string() ||
          (n->to_string() != "initial_lr" && n->to_string() != "max_lr" &&
           n->to_string() != "min_lr" && n->to_string() != "max_momentum" &&
           n->to_string() != "base_momentum"))
        f.fail("_schedule_phases", std::string("a phase's ") + key + " is not a OneCycleLR option");
      return n->to_string();
    };
    if (!v->is_list() || v->size() == 0 || v->size() > 3)
      f.fail("_schedule_phases", "expected a list of 2 or 3 phases");
    std::vector<Phase> phases;
    for (const auto& p : v->items()) {
      const Value* end = p.is_dict() ? p.find(Value("end_step")) : nullptr;
      if (!end || !end->is_number()) f.fail("_schedule_phases", "a phase without an end_step");
      phases.push_back({end->to_double(), option(p, "start_lr"), option(p, "end_lr"),
                        option(p, "start_momentum"), option(p, "end_momentum")});
    }
    phases_ = std::move(phases);
  }
}

// --- SequentialLR -------------------------------------------------------------------------------

SequentialLR::SequentialLR(Optimizer& opt, std::vector<std::unique_ptr<LRScheduler>> schedulers,
                           std::vector<int64_t> milestones)
    : LRScheduler(opt, /*set_initial_lr=*/false),
      schedulers_(std::move(schedulers)),
      milestones_(std::move(milestones)) {
  for (size_t i = 0; i < schedulers_.size(); ++i)
    if (&schedulers_[i]->optimizer() != &opt_)
      TANDEM_FAIL(
          "Sequential Schedulers expects all schedulers to belong to the same optimizer, "
          "but got schedulers at index ",
          i, " to be different than the optimizer passed in.");
  for (const auto& s : schedulers_)
    if (s->needs_metric())
      throw Error("SequentialLR does not support `ReduceLROnPlateau` scheduler");
  if (schedulers_.empty() || milestones_.size() != schedulers_.size() - 1)
    TANDEM_FAIL(
        "Sequential Schedulers expects number of schedulers provided to be one more than the "
        "number of "
        "milestone points, but got number of schedulers ",
        schedulers_.size(), " and the number of milestones to be equal to ", milestones_.size());
  last_epoch_ = 0;  // last_epoch + 1 with the default last_epoch = -1
  for (auto& g : opt_.param_groups()) g.options.set("lr", g.options.at("initial_lr"));
  for (auto& s : schedulers_) s->undo_step();
  schedulers_[0]->initial_step();
  last_lr_ = schedulers_[0]->get_last_lr();
}

void SequentialLR::step() {
  ++last_epoch_;
  const size_t idx = size_t(std::upper_bound(milestones_.begin(), milestones_.end(), last_epoch_) -
                            milestones_.begin());
  auto& s = schedulers_[idx];
  if (idx > 0 && milestones_[idx - 1] == last_epoch_)
    s->step_to(0);
  else
    s->step();
  last_lr_ = s->get_last_lr();
}

Value SequentialLR::state_dict() const {
  Value d = Value::dict();
  Value ms = Value::list();
  for (int64_t m : milestones_) ms.append(Value(m));
  d.set("_milestones", ms);
  d.set("last_epoch", Value(last_epoch_));
  d.set("_last_lr", list_of(last_lr_));
  Value subs = Value::list();
  for (const auto& s : schedulers_) subs.append(s->state_dict());
  d.set("_schedulers", subs);
  return d;
}

void SequentialLR::load_state(const StateFields& f) {
  f.integer("last_epoch", last_epoch_, -1, kMaxCount);
  f.numbers("_last_lr", last_lr_, opt_.param_groups().size());
  if (const Value* v = f.find("_schedulers")) {
    if (!v->is_list() || v->size() != schedulers_.size())
      f.fail("_schedulers", "expected the states of " + std::to_string(schedulers_.size()) +
                                " schedulers, got " + v->repr(100));
    for (size_t i = 0; i < schedulers_.size(); ++i)
      schedulers_[i]->load_state_dict(v->items()[i],
                                      f.where() + "._schedulers." + std::to_string(i));
  }
}

// --- ReduceLROnPlateau --------------------------------------------------------------------------

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& opt, const PlateauOptions& o)
    : LRScheduler(opt, false), o_(o) {
  if (o.factor >= 1.0) throw Error("Factor should be < 1.0.");
  const size_t n = opt_.param_groups().size();
  if (o.min_lr.size() == 1)
    min_lrs_.assign(n, o.min_lr[0]);
  else if (o.min_lr.size() == n)
    min_lrs_ = o.min_lr;
  else
    TANDEM_FAIL("expected ", n, " min_lrs, got ", o.min_lr.size());
  if (o.mode != "min" && o.mode != "max") TANDEM_FAIL("mode ", o.mode, " is unknown!");
  if (o.threshold_mode != "rel" && o.threshold_mode != "abs")
    TANDEM_FAIL("threshold mode ", o.threshold_mode, " is unknown!");
  mode_worse_ = o.mode == "min" ? std::numeric_limits<double>::infinity()
                                : -std::numeric_limits<double>::infinity();
  best_ = mode_worse_;
  last_epoch_ = 0;
  last_lr_ = group_lrs();
}

bool ReduceLROnPlateau::is_better(double a, double best) const {
  if (o_.mode == "min" && o_.threshold_mode == "rel") return a < best * (1.0 - o_.threshold);
  if (o_.mode == "min") return a < best - o_.threshold;
  if (o_.threshold_mode == "rel") return a > best * (o_.threshold + 1.0);
  return a > best + o_.threshold;
}

void ReduceLROnPlateau::step() {
  throw Error("ReduceLROnPlateau.step() needs the monitored metric");
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (is_better(metric, best_)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;
  }
  if (num_bad_epochs_ > o_.patience) {
    for (size_t i = 0; i < opt_.param_groups().size(); ++i) {
      const double old_lr = opt_.lr(i);
      const double new_lr = std::max(old_lr * o_.factor, min_lrs_[i]);
      if (old_lr - new_lr > o_.eps) opt_.set_lr(i, new_lr);
    }
    cooldown_counter_ = o_.cooldown;
    num_bad_epochs_ = 0;
  }
  last_lr_ = group_lrs();
  has_last_lr_ = true;
}

Value ReduceLROnPlateau::state_dict() const {
  Value d = Value::dict();  // 1.13's attribute order
  d.set("factor", o_.factor);
  d.set("min_lrs", list_of(min_lrs_));
  d.set("patience", Value(o_.patience));
  d.set("verbose", false);
  d.set("cooldown", Value(o_.cooldown));
  d.set("cooldown_counter", Value(cooldown_counter_));
  d.set("mode", o_.mode);
  d.set("threshold", o_.threshold);
  d.set("threshold_mode", o_.threshold_mode);
  d.set("best", best_);
  d.set("num_bad_epochs", Value(num_bad_epochs_));
  d.set("mode_worse", mode_worse_);
  d.set("eps", o_.eps);
  d.set("last_epoch", Value(last_epoch_));
  if (has_last_lr_) d.set("_last_lr", list_of(last_lr_));
  return d;
}

void ReduceLROnPlateau::load_state(const StateFields& f) {
  const size_t groups = opt_.param_groups().size();
  f.number("factor", o_.factor);
  if (!(o_.factor < 1.0)) f.fail("factor", "must be < 1.0");
  f.numbers("min_lrs", min_lrs_, groups);
  f.integer("patience", o_.patience, 0, kMaxCount);
  f.integer("cooldown", o_.cooldown, 0, kMaxCount);
  f.integer("cooldown_counter", cooldown_counter_, 0, kMaxCount);
  f.text("mode", o_.mode, {"min", "max"});
  f.number("threshold", o_.threshold);
  f.text("threshold_mode", o_.threshold_mode, {"rel", "abs"});
  f.number("best", best_);
  f.integer("num_bad_epochs", num_bad_epochs_, 0, kMaxCount);
  f.number("mode_worse", mode_worse_);
  f.number("eps", o_.eps);
  f.integer("last_epoch", last_epoch_, -1, kMaxCount);
  if (f.numbers("_last_lr", last_lr_, groups)) has_last_lr_ = true;
}

}  // namespace tandem::optim
