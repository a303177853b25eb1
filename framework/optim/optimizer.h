// Optimizer base with PyTorch's parameter groups and state_dict layout (reference §1.1):
//   {'state': {idx: {...}}, 'param_groups': [{<hyper-parameters in PyTorch's order>, 'params':
//   [idx, ...]}]}
// Hyper-parameters live in each group's `options` (an ordered Value dict), so keys a scheduler
// adds ('initial_lr') and unknown keys from a PyTorch file round-trip in order.
//
//   auto opt = std::make_unique<optim::SGD>(model->parameters(), optim::SgdOptions{.lr = 0.1,
//   .momentum = 0.9}); opt->zero_grad(); loss.backward(); opt->step();
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "framework/core/value.h"

namespace tandem::optim {

struct ParamGroup {
  std::vector<Tensor> params;
  Value options = Value::dict();  // 'lr', 'momentum', ... in PyTorch's key order
  double get(const char* key) const { return options.at(key).to_double(); }
  bool flag(const char* key) const { return options.at(key).to_bool(); }
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  virtual std::string name() const = 0;

  void zero_grad(bool set_to_none = true);
  // Adds a group; missing hyper-parameters are filled from the defaults, in defaults order.
  void add_param_group(std::vector<Tensor> params, Value options = Value::dict());
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  double lr(size_t group = 0) const { return groups_.at(group).get("lr"); }
  void set_lr(size_t group, double lr) { groups_.at(group).options.set("lr", lr); }
  const Value& defaults() const { return defaults_; }

  Value state_dict() const;
  // PyTorch's errors for a different number or size of groups; tensors are cast to the
  // parameter's dtype and device; hyper-parameters come from the saved groups.
  void load_state_dict(const Value& state_dict);

 protected:
  explicit Optimizer(Value defaults) : defaults_(std::move(defaults)) {}
  // Per-parameter state dict (created on first use, as PyTorch's defaultdict).
  Value& state(const Tensor& param);
  bool has_state(const Tensor& param) const { return state_.count(param.impl()) != 0; }
  // Fills missing keys of a loaded per-parameter state (e.g. Adam's 'step' as a tensor).
  virtual void fix_loaded_state(Value& /*state*/, const ParamGroup& /*group*/) {}

 private:
  Value defaults_;
  std::vector<ParamGroup> groups_;
  std::unordered_map<const TensorImpl*, Value> state_;
};

}  // namespace tandem::optim
