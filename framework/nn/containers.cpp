// Sequential, ModuleList, ModuleDict (torch/nn/modules/container.py).
#include "framework/nn/containers.h"

#include <algorithm>
#include <optional>

namespace tandem::nn {

namespace {

// A child's position from a Python index (negative counts from the end), PyTorch's error text.
size_t wrap_index(int64_t index, size_t size) {
  const int64_t n = int64_t(size);
  TANDEM_CHECK(index >= -n && index < n, "index ", index, " is out of range");
  return size_t(index < 0 ? index + n : index);
}

// An insertion point: -size..size, as Sequential.insert checks it.
size_t wrap_insert_index(int64_t index, size_t size) {
  const int64_t n = int64_t(size);
  TANDEM_CHECK(index >= -n && index <= n, "Index out of range: ", index);
  return size_t(index < 0 ? index + n : index);
}

std::vector<ModulePtr> child_modules(const Module& m) {
  std::vector<ModulePtr> out;
  for (auto& [name, c] : m.local_children()) out.push_back(c);
  return out;
}

// The first child not named by its position ("0", "1", ...), if any.
std::optional<std::string> first_named_child(const Module& m) {
  size_t i = 0;
  for (auto& [name, c] : m.local_children())
    if (name != std::to_string(i++)) return name;
  return std::nullopt;
}

// Replaces m's children by `modules` named "0", "1", ... (PyTorch renumbers after a delete).
void set_positional_children(Module& m, const std::vector<ModulePtr>& modules) {
  for (const std::string& name : m.local_children().keys()) m.remove_module(name);
  for (size_t i = 0; i < modules.size(); ++i) m.register_module(std::to_string(i), modules[i]);
}

// Removes the child at a Python index and renumbers the rest.
ModulePtr pop_positional(Module& m, int64_t index) {
  std::vector<ModulePtr> modules = child_modules(m);
  const size_t at = wrap_index(index, modules.size());
  ModulePtr out = modules[at];
  modules.erase(modules.begin() + ptrdiff_t(at));
  set_positional_children(m, modules);
  return out;
}

}  // namespace

Sequential::Sequential(const std::vector<ModulePtr>& modules) : Sequential() {
  for (auto& m : modules) push_back(m);
}

Sequential::Sequential(const NamedModules& modules) : Sequential() {
  for (auto& [name, m] : modules) push_back(name, m);
}

Sequential& Sequential::push_back(ModulePtr module) {
  return push_back(std::to_string(size()), std::move(module));
}

Sequential& Sequential::push_back(const std::string& name, ModulePtr module) {
  register_module(name, std::move(module));
  return *this;
}

ModulePtr Sequential::operator[](int64_t index) const {
  return local_children().item(wrap_index(index, size())).second;
}

Sequential& Sequential::extend(const std::vector<ModulePtr>& modules) {
  for (auto& m : modules) push_back(m);
  return *this;
}

Sequential& Sequential::insert(int64_t index, ModulePtr module) {
  const size_t at = wrap_insert_index(index, size());
  if (at == size()) return push_back(std::move(module));
  // PyTorch shifts self._modules[str(i)] up from the end, which needs positional names.
  const std::optional<std::string> named = first_named_child(*this);
  TANDEM_CHECK(!named, "Sequential.insert before the end needs children named '0', '1', ...; ",
               "this one has '", named.value_or(""), "'");
  std::vector<ModulePtr> modules = child_modules(*this);
  modules.insert(modules.begin() + ptrdiff_t(at), std::move(module));
  set_positional_children(*this, modules);
  return *this;
}

ModulePtr Sequential::pop(int64_t index) { return pop_positional(*this, index); }

std::shared_ptr<Sequential> Sequential::slice(int64_t start, int64_t stop) const {
  // Python's slice clamping: negative counts from the end, then both clamp to [0, size].
  const int64_t n = int64_t(size());
  auto clamp = [n](int64_t i) { return std::clamp(i < 0 ? i + n : i, int64_t(0), n); };
  auto out = std::make_shared<Sequential>();
  for (int64_t i = clamp(start); i < clamp(stop); ++i) {
    const auto& [name, m] = local_children().item(size_t(i));
    out->push_back(name, m);
  }
  return out;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (auto& [name, m] : local_children()) y = m->forward(y);
  return y;
}

std::vector<Tensor> Sequential::forward_many(const std::vector<Tensor>& inputs) {
  std::vector<Tensor> ys = inputs;
  for (auto& [name, m] : local_children()) ys = m->forward_many(ys);
  return ys;
}

ModuleList::ModuleList(const std::vector<ModulePtr>& modules) : ModuleList() { extend(modules); }

ModuleList& ModuleList::append(ModulePtr module) {
  register_module(std::to_string(size()), std::move(module));
  return *this;
}

ModuleList& ModuleList::extend(const std::vector<ModulePtr>& modules) {
  for (auto& m : modules) append(m);
  return *this;
}

ModuleList& ModuleList::insert(int64_t index, ModulePtr module) {
  std::vector<ModulePtr> modules = child_modules(*this);
  modules.insert(modules.begin() + ptrdiff_t(wrap_insert_index(index, size())), std::move(module));
  set_positional_children(*this, modules);
  return *this;
}

ModulePtr ModuleList::pop(int64_t index) { return pop_positional(*this, index); }

ModulePtr ModuleList::operator[](int64_t index) const {
  return local_children().item(wrap_index(index, size())).second;
}

std::vector<ModulePtr> ModuleList::items() const {
  std::vector<ModulePtr> out;
  for (auto& [n, m] : local_children()) out.push_back(m);
  return out;
}

ModuleDict::ModuleDict(const NamedModules& modules) : ModuleDict() {
  for (auto& [k, m] : modules) insert(k, m);
}

ModuleDict& ModuleDict::insert(const std::string& key, ModulePtr module) {
  register_module(key, std::move(module));
  return *this;
}

ModuleDict& ModuleDict::update(const NamedModules& modules) {
  for (auto& [k, m] : modules) insert(k, m);
  return *this;
}

ModulePtr ModuleDict::pop(const std::string& key) {
  ModulePtr m = (*this)[key];
  remove_module(key);
  return m;
}

ModulePtr ModuleDict::operator[](const std::string& key) const {
  const ModulePtr* m = local_children().find(key);
  TANDEM_CHECK(m != nullptr, "ModuleDict has no key '", key, "'");
  return *m;
}

}  // namespace tandem::nn
