// Optimizer base: groups, zero_grad, state_dict in PyTorch's layout.
#include "framework/optim/optimizer.h"

#include <unordered_set>

#include "framework/autograd/grad_mode.h"

namespace tandem::optim {

void Optimizer::zero_grad(bool set_to_none) {
  for (auto& g : groups_)
    for (auto& p : g.params) {
      if (!p.grad().defined()) continue;
      if (set_to_none) {
        p.set_grad(Tensor());
      } else {
        NoGradGuard no_grad;
        Tensor grad = p.grad();
        grad.zero_();
      }
    }
}

void Optimizer::add_param_group(std::vector<Tensor> params, Value options) {
  if (params.empty()) throw Error("optimizer got an empty parameter list");
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& g : groups_)
    for (const auto& p : g.params) seen.insert(p.impl());
  for (const auto& p : params) {
    TANDEM_CHECK(p.defined(), "optimizer: undefined parameter");
    TANDEM_CHECK(p.is_leaf(), "can't optimize a non-leaf Tensor");
    TANDEM_CHECK(!seen.count(p.impl()), "some parameters appear in more than one parameter group");
  }
  ParamGroup group;
  group.params = std::move(params);
  // User keys first, then the missing defaults in defaults order (PyTorch's setdefault loop).
  group.options = Value::dict();  // a copy: Value dicts are shared references, like Python's
  if (options.is_dict())
    for (const auto& [k, v] : options.dict_items()) group.options.set(k, v);
  for (const auto& [k, v] : defaults_.dict_items())
    if (!group.options.contains(k)) group.options.set(k, v);
  groups_.push_back(std::move(group));
}

Value& Optimizer::state(const Tensor& param) {
  auto it = state_.find(param.impl());
  if (it == state_.end()) it = state_.emplace(param.impl(), Value::dict()).first;
  return it->second;
}

Value Optimizer::state_dict() const {
  Value state = Value::dict();
  Value groups = Value::list();
  std::unordered_map<const TensorImpl*, int64_t> index;
  int64_t next = 0;
  for (const auto& g : groups_) {
    Value packed = Value::dict();
    for (const auto& [k, v] : g.options.dict_items()) packed.set(k, v);
    Value ids = Value::list();
    for (const auto& p : g.params) {
      auto [it, inserted] = index.emplace(p.impl(), next);
      if (inserted) ++next;
      ids.append(Value(it->second));
    }
    packed.set("params", ids);  // 'params' is the last key, as PyTorch packs it
    groups.append(packed);
  }
  // State in parameter order, only for parameters that have state.
  for (const auto& g : groups_)
    for (const auto& p : g.params) {
      auto it = state_.find(p.impl());
      if (it != state_.end() && !state.contains(Value(index.at(p.impl()))))
        state.set(Value(index.at(p.impl())), it->second);
    }
  Value sd = Value::dict();
  sd.set("state", state);
  sd.set("param_groups", groups);
  return sd;
}

void Optimizer::load_state_dict(const Value& sd) {
  TANDEM_CHECK(sd.is_dict() && sd.contains("state") && sd.contains("param_groups"),
               "optimizer state_dict must have 'state' and 'param_groups'");
  const auto& saved = sd.at("param_groups").items();
  if (saved.size() != groups_.size())
    throw Error("loaded state dict has a different number of parameter groups");
  for (size_t i = 0; i < saved.size(); ++i)
    if (saved[i].at("params").size() != groups_[i].params.size())
      throw Error(
          "loaded state dict contains a parameter group that doesn't match the size of optimizer's "
          "group");
  std::unordered_map<int64_t, std::pair<Tensor, size_t>> id_map;  // saved id -> (param, group)
  for (size_t i = 0; i < saved.size(); ++i) {
    const auto& ids = saved[i].at("params").items();
    for (size_t j = 0; j < ids.size(); ++j) id_map[ids[j].to_int()] = {groups_[i].params[j], i};
  }
  NoGradGuard no_grad;
  std::unordered_map<const TensorImpl*, Value> new_state;
  for (const auto& [key, value] : sd.at("state").dict_items()) {
    const int64_t id = key.is_int() ? key.to_int() : std::stoll(key.to_string());
    auto it = id_map.find(id);
    if (it == id_map.end()) continue;
    const Tensor& p = it->second.first;
    Value s = Value::dict();
    for (const auto& [k, v] : value.dict_items()) {
      if (v.is_tensor()) {
        const Tensor& t = v.to_tensor();
        // PyTorch's cast policy (Optimizer.load_state_dict): 'step' is left as saved (Adam's is
        // a CPU tensor on every device: moving it would make every step read it back from the
        // device); other state moves to the parameter's device, floating state to its dtype.
        const bool keep = k.is_string() && k.to_string() == "step";
        Tensor c = keep                     ? t.clone()
                   : is_floating(t.dtype()) ? t.to(p.device(), p.dtype()).clone()
                                            : t.to(p.device()).clone();
        s.set(k, Value(c));
      } else {
        s.set(k, v);
      }
    }
    fix_loaded_state(s, groups_[it->second.second]);
    new_state[p.impl()] = s;
  }
  for (size_t i = 0; i < saved.size(); ++i) {
    Value options = Value::dict();
    for (const auto& [k, v] : saved[i].dict_items())
      if (!(k.is_string() && k.to_string() == "params")) options.set(k, v);
    for (const auto& [k, v] :
         defaults_.dict_items())  // __setstate__ fills keys older versions lack
      if (!options.contains(k)) options.set(k, v);
    groups_[i].options = options;
  }
  state_ = std::move(new_state);
}

}  // namespace tandem::optim
