// LR schedulers with PyTorch 1.13's semantics (reference §2): the chainable get_lr() used by
// step(), the closed forms used by step(epoch) (SequentialLR's restarts), 'initial_lr' in the
// groups, get_last_lr(), and state_dict()/load_state_dict() with PyTorch's keys in its order.
//
//   optim::CosineAnnealingLR sched(opt, /*T_max=*/10);
//   for (...) { opt.step(); sched.step(); }
#pragma once

#include <memory>
#include <vector>

#include "framework/optim/optimizer.h"
#include "framework/optim/state_fields.h"

namespace tandem::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  virtual void step();               // the next epoch/iteration
  virtual void step(double metric);  // ReduceLROnPlateau only
  virtual bool needs_metric() const { return false; }
  virtual std::string name() const = 0;
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  const Optimizer& optimizer() const { return opt_; }

  virtual Value state_dict() const;
  // PyTorch's keys. The state may come from an edited or damaged file: every field is type- and
  // range-checked (counts per parameter group, positive periods, known names) and an error
  // names it ("scheduler.base_lrs: ..."); on error the scheduler is left as it was.
  void load_state_dict(const Value& state, const std::string& where = "scheduler");
  // The checks of load_state_dict alone (throws what it would throw; the scheduler ends as it
  // was).
  void check_state_dict(const Value& state, const std::string& where = "scheduler");

  // step(epoch) semantics of 1.13: jump to `epoch` using the closed form (used by SequentialLR).
  void step_to(int64_t epoch);
  void undo_step() { --last_epoch_; }  // SequentialLR's "undo the construction step"
  void initial_step();

 protected:
  explicit LRScheduler(Optimizer& optimizer, bool set_initial_lr = true);
  virtual std::vector<double> get_lr() = 0;  // chainable form (reads group lrs)
  virtual std::vector<double> closed_form_lr() { return get_lr(); }
  virtual void own_state(Value& d) const = 0;  // subclass attributes (come first)
  // Reads the (checked) fields; the default reads the subclass's, then the base's.
  virtual void load_state(const StateFields& f);
  virtual void load_own_state(const StateFields& f) = 0;
  std::vector<double> group_lrs() const;
  void apply(const std::vector<double>& lrs);

  Optimizer& opt_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = -1;
  int64_t step_count_ = 0;
  std::vector<double> last_lr_;
};

class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& opt, int64_t step_size, double gamma = 0.1);
  std::string name() const override { return "StepLR"; }

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override;
  void own_state(Value& d) const override;
  void load_own_state(const StateFields& f) override;

 private:
  int64_t step_size_;
  double gamma_;
};

class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& opt, std::vector<int64_t> milestones, double gamma = 0.1);
  std::string name() const override { return "MultiStepLR"; }

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override;
  void own_state(Value& d) const override;
  void load_own_state(const StateFields& f) override;

 private:
  std::vector<std::pair<int64_t, int64_t>> milestones_;  // milestone -> count (a Counter), in order
  double gamma_;
};

class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& opt, double gamma);
  std::string name() const override { return "ExponentialLR"; }

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override;
  void own_state(Value& d) const override;
  void load_own_state(const StateFields& f) override;

 private:
  double gamma_;
};

class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& opt, int64_t T_max, double eta_min = 0);
  std::string name() const override { return "CosineAnnealingLR"; }

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override;
  void own_state(Value& d) const override;
  void load_own_state(const StateFields& f) override;

 private:
  int64_t T_max_;
  double eta_min_;
};

class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& opt, double start_factor = 1.0 / 3, double end_factor = 1.0,
           int64_t total_iters = 5);
  std::string name() const override { return "LinearLR"; }

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override;
  void own_state(Value& d) const override;
  void load_own_state(const StateFields& f) override;

 private:
  double start_, end_;
  int64_t total_iters_;
};

class ConstantLR : public LRScheduler {
 public:
  ConstantLR(Optimizer& opt, double factor = 1.0 / 3, int64_t total_iters = 5);
  std::string name() const override { return "ConstantLR"; }

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override;
  void own_state(Value& d) const override;
  void load_own_state(const StateFields& f) override;

 private:
  double factor_;
  int64_t total_iters_;
};

class PolynomialLR : public LRScheduler {
 public:
  PolynomialLR(Optimizer& opt, int64_t total_iters = 5, double power = 1.0);
  std::string name() const override { return "PolynomialLR"; }

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override;
  void own_state(Value& d) const override;
  void load_own_state(const StateFields& f) override;

 private:
  int64_t total_iters_;
  double power_;
};

struct OneCycleOptions {
  double max_lr = 0.1;
  int64_t total_steps = 0;  // or epochs * steps_per_epoch
  int64_t epochs = 0, steps_per_epoch = 0;
  double pct_start = 0.3;
  std::string anneal_strategy = "cos";  // cos | linear
  bool cycle_momentum = true;
  double base_momentum = 0.85, max_momentum = 0.95;
  double div_factor = 25.0, final_div_factor = 1e4;
  bool three_phase = false;
};

class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& opt, const OneCycleOptions& options);
  std::string name() const override { return "OneCycleLR"; }

 protected:
  std::vector<double> get_lr() override;
  void own_state(Value& d) const override;
  void load_own_state(const StateFields& f) override;

 private:
  struct Phase {
    double end_step;
    std::string start_lr, end_lr, start_momentum, end_momentum;
  };
  double anneal(double start, double end, double pct) const;
  int64_t total_steps_;
  std::vector<Phase> phases_;
  std::string anneal_strategy_;
  bool cycle_momentum_, use_beta1_;
};

class SequentialLR : public LRScheduler {
 public:
  SequentialLR(Optimizer& opt, std::vector<std::unique_ptr<LRScheduler>> schedulers,
               std::vector<int64_t> milestones);
  void step() override;
  std::string name() const override { return "SequentialLR"; }
  Value state_dict() const override;

 protected:
  std::vector<double> get_lr() override { return group_lrs(); }
  void own_state(Value&) const override {}
  void load_state(const StateFields& f) override;
  void load_own_state(const StateFields&) override {}

 private:
  std::vector<std::unique_ptr<LRScheduler>> schedulers_;
  std::vector<int64_t> milestones_;
};

struct PlateauOptions {
  std::string mode = "min";  // min | max
  double factor = 0.1;
  int64_t patience = 10;
  double threshold = 1e-4;
  std::string threshold_mode = "rel";  // rel | abs
  int64_t cooldown = 0;
  std::vector<double> min_lr{0.0};  // one value, or one per group
  double eps = 1e-8;
};

class ReduceLROnPlateau : public LRScheduler {
 public:
  ReduceLROnPlateau(Optimizer& opt, const PlateauOptions& options);
  void step() override;
  void step(double metric) override;
  bool needs_metric() const override { return true; }
  std::string name() const override { return "ReduceLROnPlateau"; }
  Value state_dict() const override;

 protected:
  std::vector<double> get_lr() override { return group_lrs(); }
  void own_state(Value&) const override {}
  void load_state(const StateFields& f) override;
  void load_own_state(const StateFields&) override {}

 private:
  bool is_better(double a, double best) const;
  PlateauOptions o_;
  std::vector<double> min_lrs_;
  double best_, mode_worse_;
  int64_t cooldown_counter_ = 0, num_bad_epochs_ = 0;
  bool has_last_lr_ = false;
};

}  // namespace tandem::optim
