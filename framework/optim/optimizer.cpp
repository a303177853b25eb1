// Optimizer base: groups, zero_grad, state_dict in PyTorch's layout.
#include "framework/optim/optimizer.h"

#include <unordered_set>

#include "framework/autograd/grad_mode.h"
#include "framework/optim/state_fields.h"

namespace tandem::optim {

double ParamGroup::get(const char* key) const {
  const Value* v = options.find(Value(key));
  if (!v || !v->is_number())
    throw Error(std::string("optimizer param_group: '") + key + "' " +
                (v ? std::string("is a ") + v->kind() + ", not a number" : "is missing"));
  return v->to_double();
}

bool ParamGroup::flag(const char* key) const {
  const Value* v = options.find(Value(key));
  if (!v || !v->is_bool())
    throw Error(std::string("optimizer param_group: '") + key + "' " +
                (v ? std::string("is a ") + v->kind() + ", not true or false" : "is missing"));
  return v->to_bool();
}

namespace {

// Whether a loaded hyper-parameter can stand where the current one stands: a number for a
// number, a bool (or None, as newer PyTorch saves some flags) for a bool, a tuple of as many
// numbers for a tuple (betas). Keys tandem does not have are kept as they are.
bool compatible(const Value& loaded, const Value& current) {
  if (current.is_number()) return loaded.is_number();
  if (current.is_bool() || current.is_none()) return loaded.is_bool() || loaded.is_none();
  if (current.is_string()) return loaded.is_string();
  if (current.is_list() || current.is_tuple()) {
    if (!(loaded.is_list() || loaded.is_tuple()) || loaded.size() != current.size()) return false;
    for (size_t i = 0; i < loaded.size(); ++i)
      if (!loaded.items()[i].is_number() || !current.items()[i].is_number()) return false;
    return true;
  }
  return true;
}

}  // namespace

void Optimizer::check_buffer(const Value& state, const char* key, const Tensor& param,
                             const std::string& where, bool none_ok) {
  const Value* v = state.find(Value(key));
  if (!v || (none_ok && v->is_none())) return;
  if (!v->is_tensor())
    throw Error(where + "." + key + ": expected a tensor, got a " + v->kind(),
                "the optimizer state comes from a corrupted or edited file, or another model");
  const Tensor& t = v->to_tensor();
  if (!is_floating(t.dtype()) || t.sizes() != param.sizes())
    throw Error(where + "." + key + ": a " + dtype_name(t.dtype()) + " tensor of shape " +
                    shape_str(t.sizes()) + " for a parameter of shape " + shape_str(param.sizes()),
                "the optimizer state comes from a corrupted or edited file, or another model");
}

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
  std::unordered_set<const TensorImpl*> in_group;
  for (const auto& p : params) {
    TANDEM_CHECK(p.defined(), "optimizer: undefined parameter");
    TANDEM_CHECK(p.is_leaf(), "can't optimize a non-leaf Tensor");
    TANDEM_CHECK(!seen.count(p.impl()), "some parameters appear in more than one parameter group");
    // PyTorch warns and says this will become an error; here it is one: a parameter updated
    // twice in one step would be updated twice in one GPU launch, where the updates race.
    if (!in_group.insert(p.impl()).second)
      throw Error("optimizer contains a parameter group with duplicate parameters",
                  "pass each parameter once (Module::parameters() lists a shared one once)");
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
  // State in parameter order, only for parameters that have state (each once).
  std::unordered_set<const TensorImpl*> done;
  DictIndex out(state);
  for (const auto& g : groups_)
    for (const auto& p : g.params) {
      auto it = state_.find(p.impl());
      if (it != state_.end() && done.insert(p.impl()).second)
        out.set(Value(index.at(p.impl())), it->second);
    }
  Value sd = Value::dict();
  sd.set("state", state);
  sd.set("param_groups", groups);
  return sd;
}

// saved id -> (param, group index), positionally as PyTorch maps them. `sd` is checked.
std::unordered_map<int64_t, std::pair<Tensor, size_t>> Optimizer::id_map(const Value& sd) const {
  std::unordered_map<int64_t, std::pair<Tensor, size_t>> out;
  const auto& saved = sd.at("param_groups").items();
  for (size_t i = 0; i < saved.size(); ++i) {
    const auto& ids = saved[i].at("params").items();
    for (size_t j = 0; j < ids.size(); ++j) out[ids[j].to_int()] = {groups_[i].params[j], i};
  }
  return out;
}

void Optimizer::check_state_dict(const Value& sd) const {
  const StateFields f(sd, "optimizer");
  const Value* state_v = f.find("state");
  const Value* groups_v = f.find("param_groups");
  if (!state_v || !state_v->is_dict()) f.fail("state", "missing, or not a dict");
  if (!groups_v || !groups_v->is_list()) f.fail("param_groups", "missing, or not a list");
  const auto& saved = groups_v->items();
  if (saved.size() != groups_.size())
    throw Error("loaded state dict has a different number of parameter groups");
  for (size_t i = 0; i < saved.size(); ++i) {
    const std::string where = "optimizer.param_groups." + std::to_string(i);
    const StateFields g(saved[i], where);
    const Value* ids = g.find("params");
    if (!ids || !ids->is_list()) g.fail("params", "missing, or not a list");
    if (ids->size() != groups_[i].params.size())
      throw Error(
          "loaded state dict contains a parameter group that doesn't match the size of optimizer's "
          "group");
    for (const auto& id : ids->items())
      if (!id.is_int()) g.fail("params", std::string("holds a ") + id.kind() + ", not an id");
    // Hyper-parameters step() reads must have the type it expects (betas: two numbers).
    for (const auto& [k, v] : saved[i].dict_items()) {
      if (!k.is_string()) g.fail(k.repr(100), "a hyper-parameter name must be a string");
      if (k.to_string() == "params") continue;
      const Value* current = groups_[i].options.find(k);
      if (current && !compatible(v, *current))
        g.fail(k.to_string(), std::string("a ") + v.kind() + " (" + v.repr(100) + ") where a " +
                                  current->kind() + " belongs");
    }
  }
  const auto ids = id_map(sd);
  for (const auto& [key, value] : state_v->dict_items()) {
    const int64_t id = int_key(key, "optimizer.state");
    auto it = ids.find(id);
    if (it == ids.end()) continue;  // PyTorch keeps state of unknown ids; tandem drops it
    const std::string where = "optimizer.state." + std::to_string(id);
    if (!value.is_dict())
      throw Error(where + ": expected a dict, got a " + std::string(value.kind()),
                  "the optimizer state comes from a corrupted or edited file");
    check_loaded_state(value, it->second.first, saved[it->second.second], where);
  }
}

void Optimizer::load_state_dict(const Value& sd) {
  check_state_dict(sd);  // nothing changes unless all of it is usable
  const auto& saved = sd.at("param_groups").items();
  const auto ids = id_map(sd);
  NoGradGuard no_grad;
  std::unordered_map<const TensorImpl*, Value> new_state;
  for (const auto& [key, value] : sd.at("state").dict_items()) {
    auto it = ids.find(int_key(key, "optimizer.state"));
    if (it == ids.end()) continue;
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
