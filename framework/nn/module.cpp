// nn::Module implementation: registries, traversal, state_dict/load_state_dict, repr.
// The algorithms follow torch/nn/modules/module.py (1.13) step by step; see module.h.
#include "framework/nn/module.h"

#include "framework/io/state_dict_utils.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <unordered_set>

#include "framework/autograd/grad_mode.h"
#include "framework/tensor/factories.h"

namespace tandem::nn {

namespace {

std::string join_quoted(const std::vector<std::string>& keys, const char* quote, const char* sep) {
  std::string out;
  for (size_t i = 0; i < keys.size(); ++i)
    out += (i ? sep : "") + std::string(quote) + keys[i] + quote;
  return out;
}

std::string join_prefix(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

bool starts_with(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}

// Replaces the contents of a tensor in place so every handle to it sees the converted data.
// No device keeps the tensor's own (Module::to(dtype)).
void convert_in_place(const Tensor& t, std::optional<Device> to_device,
                      std::optional<DType> dtype) {
  if (!t.defined()) return;
  const Device device = to_device.value_or(t.device());
  DType target = (dtype && is_floating(t.dtype())) ? *dtype : t.dtype();
  if (t.device() == device && t.dtype() == target) return;
  Tensor converted = t.detach().to(device, target).contiguous();
  if (converted.is_same(t)) return;
  TensorImpl* impl = t.impl();
  impl->storage = converted.impl()->storage;
  impl->sizes = converted.sizes();
  impl->strides = converted.strides();
  impl->offset = converted.storage_offset();
  impl->dtype = converted.dtype();
}

}  // namespace

std::string python_float_str(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // e.g. "1.5e-05", "1e+16"
  size_t e = sci.find('e');
  std::string mant = sci.substr(0, e);
  int exp = std::atoi(sci.c_str() + e + 1);
  bool neg = mant[0] == '-';
  if (neg) mant.erase(0, 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  std::string out;
  if (exp >= -5 + 1 && exp < 16) {  // Python's repr uses fixed notation for 1e-4 <= |v| < 1e16
    if (exp < 0) {
      out = "0." + std::string(size_t(-exp - 1), '0') + digits;
    } else if (size_t(exp) + 1 >= digits.size()) {
      out = digits + std::string(size_t(exp) + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, size_t(exp) + 1) + "." + digits.substr(size_t(exp) + 1);
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof(eb), "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += eb;
  }
  return neg ? "-" + out : out;
}

std::string addindent(const std::string& s, int n) {
  if (s.find('\n') == std::string::npos) return s;
  std::string pad(size_t(n), ' ');
  std::string out;
  for (char c : s) {
    out += c;
    if (c == '\n') out += pad;
  }
  return out;
}

std::string IncompatibleKeys::repr() const {
  if (empty()) return "<All keys matched successfully>";
  return "_IncompatibleKeys(missing_keys=[" + join_quoted(missing_keys, "'", ", ") +
         "], unexpected_keys=[" + join_quoted(unexpected_keys, "'", ", ") + "])";
}

Module::Module(std::string class_name) : class_name_(std::move(class_name)) {}

// ---- forward --------------------------------------------------------------------------------

// Each default calls the other; a per-module flag turns "neither is overridden" into an error
// instead of endless recursion (and leaves children free to use their own defaults).
namespace {
struct DispatchGuard {
  bool& flag;
  explicit DispatchGuard(bool& f) : flag(f) { flag = true; }
  ~DispatchGuard() { flag = false; }
};
}  // namespace

Tensor Module::forward(const Tensor& x) {
  TANDEM_CHECK(!in_default_dispatch_, "Module [", class_name_,
               "] is missing the required \"forward\" function");
  std::vector<Tensor> out;
  {
    DispatchGuard guard(in_default_dispatch_);
    out = forward_many({x});
  }
  TANDEM_CHECK(out.size() == 1, class_name_, ".forward returns ", out.size(),
               " tensors; call forward_many to get them all");
  return out[0];
}

std::vector<Tensor> Module::forward_many(const std::vector<Tensor>& inputs) {
  TANDEM_CHECK(!in_default_dispatch_, "Module [", class_name_,
               "] is missing the required \"forward\" function");
  TANDEM_CHECK(inputs.size() == 1, class_name_, ".forward takes 1 input, got ", inputs.size());
  DispatchGuard guard(in_default_dispatch_);
  return {forward(inputs[0])};
}

// ---- registration ---------------------------------------------------------------------------

void Module::check_new_name(const std::string& name, const char* kind) const {
  TANDEM_CHECK(!name.empty(), kind, " name can't be empty string \"\"");
  const bool is_module = std::string(kind) == "module";  // PyTorch names these offenders only
  TANDEM_CHECK(name.find('.') == std::string::npos, kind, " name can't contain \".\"",
               is_module ? ", got: " + name : std::string());
}

Tensor& Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  check_new_name(name, "parameter");
  TANDEM_CHECK(!buffers_.contains(name) && !children_.contains(name), "attribute '", name,
               "' already exists");
  TANDEM_CHECK(!t.defined() || t.is_leaf(), "Cannot assign non-leaf Tensor to parameter '", name,
               "'. Model parameters must be created explicitly. To express '", name,
               "' as a function of another Tensor, compute the value in the forward() method.");
  if (t.defined()) t.set_requires_grad(requires_grad);
  parameters_.set(name, std::move(t));
  return parameters_.at(name);
}

Tensor& Module::register_buffer(const std::string& name, Tensor t, bool persistent) {
  check_new_name(name, "buffer");
  TANDEM_CHECK(!parameters_.contains(name) && !children_.contains(name), "attribute '", name,
               "' already exists");
  buffers_.set(name, std::move(t));
  auto it = std::find(non_persistent_.begin(), non_persistent_.end(), name);
  if (persistent && it != non_persistent_.end()) non_persistent_.erase(it);
  if (!persistent && it == non_persistent_.end()) non_persistent_.push_back(name);
  return buffers_.at(name);
}

void Module::register_module_impl(const std::string& name, ModulePtr module) {
  check_new_name(name, "module");
  TANDEM_CHECK(!parameters_.contains(name) && !buffers_.contains(name), "attribute '", name,
               "' already exists");
  children_.set(name, std::move(module));
}

bool Module::has_attribute(const std::string& name) const {
  return parameters_.contains(name) || buffers_.contains(name) || children_.contains(name);
}

ModulePtr Module::remove_module(const std::string& name) {
  ModulePtr m = child(name);
  children_.erase(name);
  return m;
}

bool Module::is_persistent_buffer(const std::string& name) const {
  return buffers_.contains(name) &&
         std::find(non_persistent_.begin(), non_persistent_.end(), name) == non_persistent_.end();
}

// ---- traversal ------------------------------------------------------------------------------

Module::ModulePtr Module::self_ptr() {
  if (auto p = weak_from_this().lock()) return p;
  return ModulePtr(this, [](Module*) {});  // a stack-held root: non-owning handle
}

void Module::collect_modules(const std::string& prefix, bool remove_duplicate,
                             std::unordered_set<const Module*>& memo,
                             std::vector<std::pair<std::string, ModulePtr>>& out) {
  if (remove_duplicate) {
    if (!memo.insert(this).second) return;
  }
  out.emplace_back(prefix, self_ptr());
  for (const auto& [name, child] : children_) {
    if (!child) continue;
    child->collect_modules(join_prefix(prefix, name), remove_duplicate, memo, out);
  }
}

std::vector<std::pair<std::string, ModulePtr>> Module::named_modules(const std::string& prefix,
                                                                     bool remove_duplicate) {
  std::unordered_set<const Module*> memo;
  std::vector<std::pair<std::string, ModulePtr>> out;
  collect_modules(prefix, remove_duplicate, memo, out);
  return out;
}

std::vector<ModulePtr> Module::modules() {
  std::vector<ModulePtr> out;
  for (auto& [n, m] : named_modules()) out.push_back(m);
  return out;
}

std::vector<std::pair<std::string, ModulePtr>> Module::named_children() const {
  std::vector<std::pair<std::string, ModulePtr>> out;
  std::unordered_set<const Module*> memo;
  for (const auto& [name, child] : children_) {
    if (!child || !memo.insert(child.get()).second) continue;
    out.emplace_back(name, child);
  }
  return out;
}

std::vector<ModulePtr> Module::children() const {
  std::vector<ModulePtr> out;
  for (auto& [n, m] : named_children()) out.push_back(m);
  return out;
}

namespace {
// PyTorch's _named_members: walk named_modules, yield each module's members, skipping None and
// (with remove_duplicate) tensors already seen.
template <typename Get>
std::vector<std::pair<std::string, Tensor>> named_members(Module& root, const std::string& prefix,
                                                          bool recurse, bool remove_duplicate,
                                                          Get get) {
  std::vector<std::pair<std::string, ModulePtr>> mods;
  if (recurse)
    mods = root.named_modules(prefix, remove_duplicate);
  else
    mods.emplace_back(prefix, ModulePtr(&root, [](Module*) {}));
  std::unordered_set<const TensorImpl*> memo;
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [mprefix, m] : mods) {
    for (const auto& [name, t] : get(*m)) {
      if (!t.defined()) continue;
      if (remove_duplicate) {
        if (!memo.insert(t.impl()).second) continue;
      }
      out.emplace_back(join_prefix(mprefix, name), t);
    }
  }
  return out;
}
}  // namespace

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(const std::string& prefix,
                                                                     bool recurse,
                                                                     bool remove_duplicate) const {
  auto* self = const_cast<Module*>(this);
  return named_members(
      *self, prefix, recurse, remove_duplicate,
      [](Module& m) -> const OrderedDict<std::string, Tensor>& { return m.local_parameters(); });
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters("", recurse)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(const std::string& prefix,
                                                                  bool recurse,
                                                                  bool remove_duplicate) const {
  auto* self = const_cast<Module*>(this);
  return named_members(
      *self, prefix, recurse, remove_duplicate,
      [](Module& m) -> const OrderedDict<std::string, Tensor>& { return m.local_buffers(); });
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_buffers("", recurse)) out.push_back(t);
  return out;
}

// ---- lookup ---------------------------------------------------------------------------------

ModulePtr Module::child(const std::string& name) const {
  const ModulePtr* m = children_.find(name);
  TANDEM_CHECK(m != nullptr, class_name_, " has no attribute `", name, "`");
  return *m;
}

ModulePtr Module::get_submodule(const std::string& target) {
  if (target.empty()) return self_ptr();
  ModulePtr mod = self_ptr();
  std::stringstream ss(target);
  std::string item;
  while (std::getline(ss, item, '.')) {
    const ModulePtr* next = mod->children_.find(item);
    TANDEM_CHECK(next != nullptr && *next, mod->name(), " has no attribute `", item, "`");
    mod = *next;
  }
  return mod;
}

Tensor Module::get_parameter(const std::string& target) {
  size_t dot = target.rfind('.');
  std::string mod_path = dot == std::string::npos ? "" : target.substr(0, dot);
  std::string pname = dot == std::string::npos ? target : target.substr(dot + 1);
  ModulePtr mod = get_submodule(mod_path);
  TANDEM_CHECK(mod->has_attribute(pname), mod->name(), " has no attribute `", pname, "`");
  const Tensor* p = mod->parameters_.find(pname);
  TANDEM_CHECK(p != nullptr && p->defined(), "`", pname, "` is not an nn.Parameter");
  return *p;
}

Tensor Module::get_buffer(const std::string& target) {
  size_t dot = target.rfind('.');
  std::string mod_path = dot == std::string::npos ? "" : target.substr(0, dot);
  std::string bname = dot == std::string::npos ? target : target.substr(dot + 1);
  ModulePtr mod = get_submodule(mod_path);
  TANDEM_CHECK(mod->has_attribute(bname), mod->name(), " has no attribute `", bname, "`");
  const Tensor* b = mod->buffers_.find(bname);
  TANDEM_CHECK(b != nullptr, "`", bname, "` is not a buffer");
  return *b;  // undefined for a None buffer, as PyTorch returns None
}

// ---- modes, devices, gradients --------------------------------------------------------------

Module& Module::train(bool mode) {
  training_ = mode;
  for (auto& [n, c] : children_)
    if (c) c->train(mode);
  return *this;
}

Module& Module::to(Device device, std::optional<DType> dtype) { return convert(device, dtype); }

// Each tensor keeps its device, as PyTorch's module.to(dtype): a module without parameters, or
// one spread over several devices, stays where it is.
Module& Module::to(DType dtype) { return convert(std::nullopt, dtype); }

Module& Module::convert(std::optional<Device> device, std::optional<DType> dtype) {
  TANDEM_CHECK(!dtype || is_floating(*dtype),
               "nn.Module.to only accepts floating point or complex dtypes, but got desired dtype=",
               dtype_name(*dtype));
  NoGradGuard no_grad;
  for (auto& m : modules()) {
    for (auto& [n, p] : m->parameters_) {
      if (!p.defined()) continue;
      convert_in_place(p, device, dtype);
      if (p.grad().defined()) convert_in_place(p.grad(), device, dtype);
    }
    for (auto& [n, b] : m->buffers_) convert_in_place(b, device, dtype);
  }
  return *this;
}

Module& Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& c : children()) c->apply(fn);
  fn(*this);
  return *this;
}

Module& Module::requires_grad_(bool requires_grad) {
  for (auto& p : parameters()) p.set_requires_grad(requires_grad);
  return *this;
}

void Module::zero_grad(bool set_to_none) {
  for (auto& p : parameters()) {
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    if (set_to_none) {
      p.set_grad(Tensor());
    } else {
      Tensor gd = g.detach();
      gd.zero_();
    }
  }
}

int64_t Module::num_parameters(bool only_trainable) const {
  int64_t n = 0;
  for (auto& p : parameters())
    if (!only_trainable || p.requires_grad()) n += p.numel();
  return n;
}

// ---- state_dict -----------------------------------------------------------------------------

StateDict Module::state_dict(const std::string& prefix) const {
  StateDict out;
  std::vector<const Module*> stack;
  // Pre-order DFS: own params, own persistent buffers, then children. No de-duplication.
  std::function<void(const Module&, const std::string&)> visit = [&](const Module& m,
                                                                     const std::string& p) {
    for (const auto& [name, t] : m.parameters_)
      if (t.defined()) out.set(p + name, t.detach());
    for (const auto& [name, t] : m.buffers_)
      if (t.defined() && m.is_persistent_buffer(name)) out.set(p + name, t.detach());
    for (const auto& [name, c] : m.children_)
      if (c) visit(*c, p + name + ".");
  };
  visit(*this, prefix);
  return out;
}

StateDictMetadata Module::state_dict_metadata(const std::string& prefix) const {
  StateDictMetadata out;
  std::function<void(const Module&, const std::string&)> visit = [&](const Module& m,
                                                                     const std::string& p) {
    out[p.empty() ? p : p.substr(0, p.size() - 1)] = m.version();
    for (const auto& [name, c] : m.children_)
      if (c) visit(*c, p + name + ".");
  };
  visit(*this, prefix);
  return out;
}

void Module::load_from_state_dict(StateDict& state_dict, const std::string& prefix,
                                  std::optional<int64_t> /*version*/,
                                  std::vector<std::string>& missing_keys,
                                  std::vector<std::string>& unexpected_keys,
                                  std::vector<std::string>& error_msgs) {
  std::vector<std::pair<std::string, Tensor>> local;
  for (const auto& [n, t] : parameters_)
    if (t.defined()) local.emplace_back(n, t);
  for (const auto& [n, t] : buffers_)
    if (t.defined() && is_persistent_buffer(n)) local.emplace_back(n, t);

  NoGradGuard no_grad;
  for (auto& [name, param] : local) {
    std::string key = prefix + name;
    const Tensor* found = state_dict.find(key);
    if (!found) {
      missing_keys.push_back(key);
      continue;
    }
    Tensor input = *found;
    if (!input.defined()) {
      error_msgs.push_back("While copying the parameter named \"" + key +
                           "\", expected torch.Tensor or Tensor-like object from checkpoint but "
                           "received <class 'NoneType'>");
      continue;
    }
    if (param.dim() == 0 && input.dim() == 1) input = input.select(0, 0);  // BC rule
    if (input.sizes() != param.sizes()) {
      error_msgs.push_back("size mismatch for " + key + ": copying a param with shape " +
                           torch_size_str(input.sizes()) +
                           " from checkpoint, the shape in current model is " +
                           torch_size_str(param.sizes()) + ".");
      continue;
    }
    try {
      Tensor dst = param.detach();
      dst.copy_(input);
    } catch (const std::exception& e) {
      error_msgs.push_back(
          "While copying the parameter named \"" + key + "\", whose dimensions in the model are " +
          torch_size_str(param.sizes()) + " and whose dimensions in the checkpoint are " +
          torch_size_str(input.sizes()) + ", an exception occurred : ('" + e.what() + "',).");
    }
  }
  for (const auto& [key, v] : state_dict) {
    if (!starts_with(key, prefix)) continue;
    std::string rest = key.substr(prefix.size());
    std::string input_name = rest.substr(0, rest.find('.'));
    bool known = children_.contains(input_name) ||
                 std::any_of(local.begin(), local.end(),
                             [&](const auto& l) { return l.first == input_name; });
    if (!known) unexpected_keys.push_back(key);
  }
}

void Module::load_recursive(StateDict& local, const std::string& prefix,
                            const StateDictMetadata* metadata, std::vector<std::string>& missing,
                            std::vector<std::string>& unexpected,
                            std::vector<std::string>& errors) {
  std::optional<int64_t> version;
  if (metadata) {
    auto it = metadata->find(prefix.empty() ? prefix : prefix.substr(0, prefix.size() - 1));
    if (it != metadata->end()) version = it->second;
  }
  load_from_state_dict(local, prefix, version, missing, unexpected, errors);
  for (const auto& [name, c] : children_) {
    if (!c) continue;
    std::string child_prefix = prefix + name + ".";
    StateDict child_sd;
    for (const auto& [k, v] : local)
      if (starts_with(k, child_prefix)) child_sd.insert(k, v);
    c->load_recursive(child_sd, child_prefix, metadata, missing, unexpected, errors);
  }
}

IncompatibleKeys Module::load_state_dict(const StateDict& state_dict, bool strict,
                                         const StateDictMetadata* metadata) {
  // Weights saved from a DistributedDataParallel/DataParallel-wrapped model ("module." keys)
  // load into a plain one and the reverse, at any depth: the prefixes are reconciled first. The
  // saved per-module versions are keyed by the old paths, so they are dropped in that case.
  StateDict local = io::reconcile_prefixes(state_dict, this->state_dict().keys());
  if (local.keys() != state_dict.keys()) metadata = nullptr;
  IncompatibleKeys result;
  std::vector<std::string> errors;
  load_recursive(local, "", metadata, result.missing_keys, result.unexpected_keys, errors);
  if (strict) {
    if (!result.unexpected_keys.empty())
      errors.insert(errors.begin(), "Unexpected key(s) in state_dict: " +
                                        join_quoted(result.unexpected_keys, "\"", ", ") + ". ");
    if (!result.missing_keys.empty())
      errors.insert(errors.begin(), "Missing key(s) in state_dict: " +
                                        join_quoted(result.missing_keys, "\"", ", ") + ". ");
  }
  if (!errors.empty()) {
    std::string msg = "Error(s) in loading state_dict for " + class_name_ + ":\n\t";
    for (size_t i = 0; i < errors.size(); ++i) msg += (i ? "\n\t" : "") + errors[i];
    throw Error(msg,
                "check that the checkpoint was saved from the same architecture; "
                "strict=false ignores missing/unexpected keys but not shape mismatches");
  }
  return result;
}

// ---- repr -----------------------------------------------------------------------------------

std::ostream& operator<<(std::ostream& os, const Module& module) { return os << module.repr(); }

std::string Module::repr() const {
  std::vector<std::string> lines;
  std::string extra = extra_repr();
  if (!extra.empty()) {
    std::stringstream ss(extra);
    std::string line;
    while (std::getline(ss, line, '\n')) lines.push_back(line);
  }
  size_t n_extra = lines.size();
  for (const auto& [key, c] : children_)
    lines.push_back("(" + key + "): " + addindent(c ? c->repr() : "None", 2));
  std::string out = class_name_ + "(";
  if (!lines.empty()) {
    if (n_extra == 1 && lines.size() == 1) {
      out += lines[0];
    } else {
      out += "\n  ";
      for (size_t i = 0; i < lines.size(); ++i) out += (i ? "\n  " : "") + lines[i];
      out += "\n";
    }
  }
  return out + ")";
}

}  // namespace tandem::nn
