// nn::Module: the base of every layer and model, with PyTorch's registration, traversal,
// state_dict/load_state_dict and repr semantics (reference/pytorch-semantics.md §3).
//
//   struct Net : nn::Module {
//     std::shared_ptr<nn::Linear> fc;
//     Net() : Module("Net") { fc = register_module("fc", std::make_shared<nn::Linear>(4, 2)); }
//     Tensor forward(const Tensor& x) override { return (*child("fc"))(x); }
//   };
//   auto net = std::make_shared<Net>();
//   net->state_dict();            // {"fc.weight", "fc.bias"}
//   net->load_state_dict(sd);     // throws PyTorch's "Error(s) in loading state_dict for Net: ..."
//
// Modules are always held by std::shared_ptr. Parameters are plain Tensors with requires_grad
// set; `to()` converts them in place (like PyTorch's `param.data = ...`), so handles kept in
// typed members (Linear::weight) stay valid. A typed member child (`fc`) is a convenience for
// construction; forward of the zoo models looks children up by name, so replacing a child with
// register_module(name, ...) (model surgery) changes what runs.
#pragma once

#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "framework/core/ordered_dict.h"
#include "framework/core/value.h"
#include "framework/tensor/tensor.h"

namespace tandem::nn {

using StateDict = OrderedDict<std::string, Tensor>;
// PyTorch's state_dict._metadata: module prefix ("" for the root, "layer1.0", ...) -> version.
using StateDictMetadata = std::map<std::string, int64_t>;

// load_state_dict's result, PyTorch's _IncompatibleKeys.
struct IncompatibleKeys {
  std::vector<std::string> missing_keys;
  std::vector<std::string> unexpected_keys;
  bool empty() const { return missing_keys.empty() && unexpected_keys.empty(); }
  // "<All keys matched successfully>" or "_IncompatibleKeys(missing_keys=['a'],
  // unexpected_keys=[])"
  std::string repr() const;
};

class Module : public std::enable_shared_from_this<Module> {
 public:
  using ModulePtr = std::shared_ptr<Module>;

  explicit Module(std::string class_name = "Module");
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The class name PyTorch prints ("Linear", "Sequential", ...).
  const std::string& name() const { return class_name_; }

  // ---- forward ------------------------------------------------------------------------------
  // Single tensor in, single tensor out (most layers). The default calls forward_many({x}) and
  // requires exactly one output.
  virtual Tensor forward(const Tensor& x);
  // Several inputs and/or outputs (wrappers that take an extra input or return extra outputs).
  // The default requires one input and returns {forward(x)}.
  virtual std::vector<Tensor> forward_many(const std::vector<Tensor>& inputs);
  Tensor operator()(const Tensor& x) { return forward(x); }
  std::vector<Tensor> operator()(const std::vector<Tensor>& xs) { return forward_many(xs); }

  // ---- registration -------------------------------------------------------------------------
  // Registers (or replaces in place, keeping its position) a parameter. An undefined tensor is
  // PyTorch's None: the name exists but yields no key. Sets requires_grad on a defined tensor.
  Tensor& register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  // persistent=false keeps the buffer out of state_dict and load_state_dict.
  Tensor& register_buffer(const std::string& name, Tensor t, bool persistent = true);
  // Registers a child or replaces an existing one in place (same position), as PyTorch's
  // setattr. Returns the holder so it can initialise a typed member.
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    register_module_impl(name, module);
    return module;
  }

  // Removes a direct child and returns it, as `del model.fc`; the others keep their order.
  ModulePtr remove_module(const std::string& name);

  // ---- traversal (PyTorch's order and de-duplication) ----------------------------------------
  std::vector<std::pair<std::string, Tensor>> named_parameters(const std::string& prefix = "",
                                                               bool recurse = true,
                                                               bool remove_duplicate = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_buffers(const std::string& prefix = "",
                                                            bool recurse = true,
                                                            bool remove_duplicate = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, ModulePtr>> named_children() const;
  std::vector<ModulePtr> children() const;
  std::vector<std::pair<std::string, ModulePtr>> named_modules(const std::string& prefix = "",
                                                               bool remove_duplicate = true);
  std::vector<ModulePtr> modules();

  // Direct access to this module's own registries (None entries included).
  const OrderedDict<std::string, Tensor>& local_parameters() const { return parameters_; }
  const OrderedDict<std::string, Tensor>& local_buffers() const { return buffers_; }
  const OrderedDict<std::string, ModulePtr>& local_children() const { return children_; }
  bool is_persistent_buffer(const std::string& name) const;

  // ---- lookup -------------------------------------------------------------------------------
  ModulePtr child(const std::string& name) const;  // a direct child; throws naming the module
  template <typename M>
  std::shared_ptr<M> child_as(const std::string& name) const {
    auto m = std::dynamic_pointer_cast<M>(child(name));
    TANDEM_CHECK(m != nullptr, class_name_, " child '", name, "' has another type");
    return m;
  }
  ModulePtr get_submodule(const std::string& target);  // "layer1.0.conv1"; "" is this module
  Tensor get_parameter(const std::string& target);     // "layer1.0.conv1.weight"
  Tensor get_buffer(const std::string& target);

  // ---- modes, devices, gradients ------------------------------------------------------------
  Module& train(bool mode = true);
  Module& eval() { return train(false); }
  bool is_training() const { return training_; }
  // Converts floating parameters/buffers (and their grads) to dtype and everything to device,
  // in place. Integer buffers (num_batches_tracked) keep their dtype, as PyTorch.
  Module& to(Device device, std::optional<DType> dtype = std::nullopt);
  Module& to(DType dtype);  // each tensor stays on its device
  // Calls fn on every child (recursively) first, then on this module, as PyTorch's apply.
  Module& apply(const std::function<void(Module&)>& fn);
  void zero_grad(bool set_to_none = true);
  // Sets requires_grad on every parameter, recursively (freezing a backbone), as PyTorch's.
  Module& requires_grad_(bool requires_grad = true);
  int64_t num_parameters(bool only_trainable = false) const;

  // ---- state_dict ---------------------------------------------------------------------------
  // Keys in PyTorch's order: own parameters, own persistent buffers, then children, recursively.
  // Values are detached tensors sharing storage with the parameters.
  StateDict state_dict(const std::string& prefix = "") const;
  StateDictMetadata state_dict_metadata(const std::string& prefix = "") const;
  // Copies by key into the existing tensors (keeping their device/dtype). Missing and unexpected
  // keys are returned; strict turns them into an error; size mismatches are errors always.
  // metadata: the versions saved with the dict (absent = PyTorch's dict without _metadata).
  IncompatibleKeys load_state_dict(const StateDict& state_dict, bool strict = true,
                                   const StateDictMetadata* metadata = nullptr);
  // A state_dict read from a file (a dict of tensors, e.g. `ckpt.at("model_state_dict")`).
  IncompatibleKeys load_state_dict(const Value& state_dict, bool strict = true) {
    return load_state_dict(state_dict.to_state_dict(), strict);
  }
  // _version in PyTorch (1 for Module, 2 for BatchNorm).
  virtual int64_t version() const { return 1; }

  // ---- repr ---------------------------------------------------------------------------------
  virtual std::string extra_repr() const { return {}; }
  std::string repr() const;

 protected:
  // Per-module part of load_state_dict; BatchNorm overrides it for its version-2 rule.
  virtual void load_from_state_dict(StateDict& state_dict, const std::string& prefix,
                                    std::optional<int64_t> version,
                                    std::vector<std::string>& missing_keys,
                                    std::vector<std::string>& unexpected_keys,
                                    std::vector<std::string>& error_msgs);
  bool training_ = true;

 private:
  void register_module_impl(const std::string& name, ModulePtr module);
  Module& convert(std::optional<Device> device, std::optional<DType> dtype);  // see to()
  void check_new_name(const std::string& name, const char* kind) const;
  bool has_attribute(const std::string& name) const;  // a parameter, buffer or child (or None)
  ModulePtr self_ptr();
  void collect_modules(const std::string& prefix, bool remove_duplicate,
                       std::unordered_set<const Module*>& memo,
                       std::vector<std::pair<std::string, ModulePtr>>& out);
  void load_recursive(StateDict& local, const std::string& prefix,
                      const StateDictMetadata* metadata, std::vector<std::string>& missing,
                      std::vector<std::string>& unexpected, std::vector<std::string>& errors);

  std::string class_name_;
  bool in_default_dispatch_ = false;  // see Module::forward
  OrderedDict<std::string, Tensor> parameters_;
  OrderedDict<std::string, Tensor> buffers_;
  std::vector<std::string> non_persistent_;
  OrderedDict<std::string, ModulePtr> children_;
};

using ModulePtr = std::shared_ptr<Module>;

// print(model): the module's repr(), e.g. `std::cout << *net << "\n";`.
std::ostream& operator<<(std::ostream& os, const Module& module);

// Python's str(float): shortest round-trip digits, "1e-05", "0.1", "2.0".
std::string python_float_str(double v);
// PyTorch's _addindent: indents every line but the first by n spaces.
std::string addindent(const std::string& s, int n);

}  // namespace tandem::nn
