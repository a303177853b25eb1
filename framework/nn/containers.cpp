// Sequential, ModuleList, ModuleDict (torch/nn/modules/container.py).
#include "framework/nn/containers.h"

namespace tandem::nn {

namespace {
size_t wrap_index(int64_t index, size_t size, const char* cls) {
  int64_t n = int64_t(size);
  TANDEM_CHECK(index >= -n && index < n, "index ", index, " is out of range (", cls, " of size ", n,
               ")");
  return size_t(index < 0 ? index + n : index);
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
  return local_children().item(wrap_index(index, size(), "Sequential")).second;
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

ModulePtr ModuleList::operator[](int64_t index) const {
  return local_children().item(wrap_index(index, size(), "ModuleList")).second;
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

ModulePtr ModuleDict::operator[](const std::string& key) const {
  const ModulePtr* m = local_children().find(key);
  TANDEM_CHECK(m != nullptr, "ModuleDict has no key '", key, "'");
  return *m;
}

}  // namespace tandem::nn
