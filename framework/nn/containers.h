// Containers: Sequential, ModuleList, ModuleDict with PyTorch's child names and repr.
//
//   auto seq = std::make_shared<nn::Sequential>(std::vector<ModulePtr>{lin, relu});  // "0", "1"
//   auto named = std::make_shared<nn::Sequential>(nn::NamedModules{{"fc1", lin}, {"relu1", relu}});
//   seq->push_back(m);  (*seq)[0];  seq->size();
//   seq->insert(1, m);  seq->pop(-1);  seq->slice(0, -1);   // model surgery, as PyTorch's
//
// As PyTorch, removing a child from a Sequential or ModuleList renames the rest "0", "1", ...
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "framework/nn/module.h"

namespace tandem::nn {

using NamedModules = std::vector<std::pair<std::string, ModulePtr>>;

// Runs its children in order. forward chains forward; forward_many chains forward_many, so a
// Sequential can carry several tensors between layers that accept them.
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  explicit Sequential(const std::vector<ModulePtr>& modules);  // children "0", "1", ...
  explicit Sequential(const NamedModules& modules);            // nn.Sequential(OrderedDict(...))
  // Appends with the next positional name (str(len(self))), as PyTorch's append.
  Sequential& push_back(ModulePtr module);
  Sequential& push_back(const std::string& name, ModulePtr module);
  ModulePtr operator[](int64_t index) const;  // negative indices count from the end
  size_t size() const { return local_children().size(); }
  Sequential& extend(const std::vector<ModulePtr>& modules);
  // Inserts before `index` (-size..size), shifting the later children's positional names up. As
  // PyTorch, only a Sequential with positional names takes an insertion before its end.
  Sequential& insert(int64_t index, ModulePtr module);
  ModulePtr pop(int64_t index = -1);  // removes and returns a child (del seq[i]; renumbers)
  // seq[start:stop] with Python's slice rules: a new Sequential holding the same modules under
  // their names (slice(0, -1) drops the last layer).
  std::shared_ptr<Sequential> slice(int64_t start, int64_t stop) const;
  Tensor forward(const Tensor& x) override;
  std::vector<Tensor> forward_many(const std::vector<Tensor>& inputs) override;
};

// Holds children "0", "1", ...; has no forward.
class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  explicit ModuleList(const std::vector<ModulePtr>& modules);
  ModuleList& append(ModulePtr module);
  ModuleList& extend(const std::vector<ModulePtr>& modules);
  ModuleList& insert(int64_t index, ModulePtr module);  // before index (-size..size)
  ModulePtr pop(int64_t index = -1);                    // removes and renumbers
  ModulePtr operator[](int64_t index) const;
  size_t size() const { return local_children().size(); }
  std::vector<ModulePtr> items() const;  // in order, for range-for
  auto begin() const { return local_children().begin(); }
  auto end() const { return local_children().end(); }
};

// Holds named children in insertion order; has no forward.
class ModuleDict : public Module {
 public:
  ModuleDict() : Module("ModuleDict") {}
  explicit ModuleDict(const NamedModules& modules);
  ModuleDict& insert(const std::string& key,
                     ModulePtr module);             // replaces an existing key in place
  ModuleDict& update(const NamedModules& modules);  // insert() of each, in order
  ModulePtr pop(const std::string& key);            // removes and returns a child
  ModulePtr operator[](const std::string& key) const;
  bool contains(const std::string& key) const { return local_children().contains(key); }
  size_t size() const { return local_children().size(); }
  std::vector<std::string> keys() const { return local_children().keys(); }
  auto begin() const { return local_children().begin(); }
  auto end() const { return local_children().end(); }
};

}  // namespace tandem::nn
