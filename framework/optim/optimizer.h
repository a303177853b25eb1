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
  // The option's value; throws naming the key if it is missing or of another type.
  double get(const char* key) const;
  bool flag(const char* key) const;
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
  // parameter's dtype and device; hyper-parameters come from the saved groups. Everything is
  // checked before anything changes (the state may come from an edited file): hyper-parameter
  // types, parameter ids, and each state tensor against its parameter's shape (a 4-element
  // momentum buffer for a 2048-element parameter would make step() write out of bounds).
  // Errors name the field ("optimizer.state.3.momentum_buffer: ...").
  void load_state_dict(const Value& state_dict);
  // The checks of load_state_dict alone (throws what it would throw; changes nothing).
  void check_state_dict(const Value& state_dict) const;

 protected:
  explicit Optimizer(Value defaults) : defaults_(std::move(defaults)) {}
  // Per-parameter state dict (created on first use, as PyTorch's defaultdict).
  Value& state(const Tensor& param);
  bool has_state(const Tensor& param) const { return state_.count(param.impl()) != 0; }
  // Fills missing keys of a loaded per-parameter state (e.g. Adam's 'step' as a tensor).
  virtual void fix_loaded_state(Value& /*state*/, const ParamGroup& /*group*/) {}
  // Throws (naming `where`) unless a loaded per-parameter state can be used with `param` in
  // `group` by step(): the subclass knows which entries it reads.
  virtual void check_loaded_state(const Value& /*state*/, const Tensor& /*param*/,
                                  const Value& /*group_options*/,
                                  const std::string& /*where*/) const {}
  // For check_loaded_state: entry `key` of `state` is absent (or None, if allowed) or a
  // floating tensor of `param`'s shape.
  static void check_buffer(const Value& state, const char* key, const Tensor& param,
                           const std::string& where, bool none_ok);

 private:
  std::unordered_map<int64_t, std::pair<Tensor, size_t>> id_map(const Value& state_dict) const;
  Value defaults_;
  std::vector<ParamGroup> groups_;
  std::unordered_map<const TensorImpl*, Value> state_;
};

}  // namespace tandem::optim
