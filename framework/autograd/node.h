// The autograd graph. A Node is the backward of one op: it takes the gradients of the op's
// outputs and returns the gradients of its inputs, which flow along `next_edges` to the nodes
// that produced those inputs (or to an AccumulateGrad for a leaf). A node saves the tensors its
// backward needs as SavedTensors, which remember the version they were saved at.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/object_pool.h"
#include "framework/tensor/tensor.h"

namespace tandem::autograd {

// An op's inputs, outputs or gradients: inline up to 4 (nearly every op has 1-3), so passing
// them through the graph allocates nothing.
using TensorList = SmallVector<Tensor, 4>;
class Node;

struct Edge {
  std::shared_ptr<Node> fn;  // null: the input needs no gradient
  uint32_t input_nr = 0;     // which of fn's gradient inputs this edge feeds
  // The type of the tensor the edge's gradient is for: the engine casts a gradient of another
  // floating type to it (PyTorch's validate_outputs), so mixed-precision graphs hand each op
  // gradients of its own output's type.
  DType dtype = DType::Float32;
  bool valid() const { return fn != nullptr; }
};

// A tensor saved for backward. Holds a detached alias (no reference cycle through grad_fn) and
// the storage version at save time, so an in-place change is detected when backward unpacks it.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  Tensor unpack(const Node& owner) const;  // throws if freed or modified in place
  void release() {
    data_ = Tensor();
    released_ = true;
  }

 private:
  Tensor data_;
  uint32_t version_ = 0;
  bool was_defined_ = false;
  bool released_ = false;
};

// A node's next edges: inline up to 4 (an op's inputs).
using EdgeList = SmallVector<Edge, 4>;

class Node : public std::enable_shared_from_this<Node> {
 public:
  explicit Node(uint32_t num_inputs = 1);
  virtual ~Node() = default;

  // grads[i] is the gradient of the op's output i (undefined when that output got none).
  virtual TensorList apply(TensorList&& grads) = 0;
  virtual std::string name() const = 0;
  // Frees saved tensors after a backward without retain_graph.
  virtual void release_saved() {}

  uint32_t num_inputs() const { return num_inputs_; }
  uint64_t sequence_nr() const { return sequence_nr_; }
  const EdgeList& next_edges() const { return next_edges_; }
  void set_next_edges(EdgeList edges) { next_edges_ = std::move(edges); }

  // Hooks on the gradient arriving at input `input_nr` (a non-leaf tensor's register_hook).
  int add_pre_hook(uint32_t input_nr, Tensor::GradHook hook);
  void remove_pre_hook(int handle);
  void run_pre_hooks(TensorList& grads) const;

 protected:
  uint64_t sequence_nr_;

 private:
  uint32_t num_inputs_;
  EdgeList next_edges_;
  std::map<int, std::pair<uint32_t, Tensor::GradHook>> pre_hooks_;  // ordered: run in add order
};

// The backward of one op written as a function. The saved tensors are unpacked (checked for
// in-place changes) and passed in; the function must not capture tensors itself.
// Like a move-only std::function, except that the closure lives in a block of the object pool:
// std::function takes one from the heap for any closure of more than two pointers, which is
// nearly every backward, in every op of every step.
class BackwardFn {
 public:
  BackwardFn() = default;
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, BackwardFn>>>
  BackwardFn(F&& fn) {  // NOLINT: implicit from a lambda, as std::function
    using Fn = std::decay_t<F>;
    static_assert(alignof(Fn) <= alignof(std::max_align_t), "over-aligned backward closure");
    object_ = ::new (pool_allocate(sizeof(Fn))) Fn(std::forward<F>(fn));
    call_ = [](void* object, const TensorList& grads, const TensorList& saved) -> TensorList {
      return (*static_cast<Fn*>(object))(grads, saved);
    };
    destroy_ = [](void* object) noexcept {
      static_cast<Fn*>(object)->~Fn();
      pool_free(object, sizeof(Fn));
    };
  }
  BackwardFn(BackwardFn&& other) noexcept { *this = std::move(other); }
  BackwardFn& operator=(BackwardFn&& other) noexcept {
    if (this != &other) {
      reset();
      std::swap(object_, other.object_);
      call_ = other.call_;
      destroy_ = other.destroy_;
    }
    return *this;
  }
  ~BackwardFn() { reset(); }

  explicit operator bool() const { return object_ != nullptr; }
  TensorList operator()(const TensorList& grads, const TensorList& saved) const {
    return call_(object_, grads, saved);
  }

 private:
  void reset() noexcept {
    if (object_) destroy_(object_);
    object_ = nullptr;
  }
  void* object_ = nullptr;
  TensorList (*call_)(void*, const TensorList&, const TensorList&) = nullptr;
  void (*destroy_)(void*) noexcept = nullptr;
};

// A node's saved tensors: inline up to 4.
using SavedTensorList = SmallVector<SavedTensor, 4>;

class FunctionNode : public Node {
 public:
  // name: a string literal (it is kept as a pointer; a std::string would allocate for most names)
  FunctionNode(const char* name, uint32_t num_inputs, SavedTensorList saved, BackwardFn fn);
  TensorList apply(TensorList&& grads) override;
  std::string name() const override { return name_; }
  void release_saved() override;

 private:
  const char* name_;
  SavedTensorList saved_;
  BackwardFn fn_;
};

// Gradient sink for a leaf: adds the incoming gradient into .grad, then runs the leaf's
// post-accumulate hooks. Runs as soon as it is ready (highest priority in the engine).
class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> variable);
  TensorList apply(TensorList&& grads) override;
  std::string name() const override { return "AccumulateGrad"; }
  std::shared_ptr<TensorImpl> variable() const { return variable_.lock(); }

 private:
  std::weak_ptr<TensorImpl> variable_;
};

struct AutogradMeta {
  TANDEM_POOLED_NEW(AutogradMeta)
  bool requires_grad = false;
  bool retains_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  uint32_t output_nr = 0;
  std::weak_ptr<Node> grad_accumulator;        // leaves only; the graph holds the strong reference
  std::map<int, Tensor::GradHook> leaf_hooks;  // register_hook on a leaf (run before accumulation)
  std::map<int, Tensor::PostAccumulateHook> post_accumulate_hooks;
  int retain_grad_hook = -1;
};

AutogradMeta& autograd_meta(const Tensor& t);  // creates the metadata on first use
// The edge a gradient for `t` must flow along: (grad_fn, output_nr) or the leaf's accumulator.
Edge gradient_edge(const Tensor& t);
int next_hook_handle();

// True when an op with these inputs must record history (grad mode on, some input needs grad).
bool any_requires_grad(const TensorList& inputs);

// Records `fn` as the backward of an op: outputs get grad_fn and requires_grad; one next edge
// per input (invalid for inputs that need no gradient). Does nothing when no input needs grad
// or grad mode is off. Returns the node (or null).
std::shared_ptr<Node> record(const char* name, const TensorList& inputs, const TensorList& outputs,
                             const TensorList& saved, BackwardFn fn);

}  // namespace tandem::autograd
