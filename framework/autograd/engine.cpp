// The backward engine: a dependency count per node, then a ready queue ordered by sequence
// number (latest op first; AccumulateGrad first of all). Single-threaded and deterministic.
// Its bookkeeping lives in scratch that each thread keeps between passes (one per nesting level,
// for a backward run from a hook), so a steady-state training step allocates nothing here.
#include "framework/autograd/engine.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "framework/autograd/grad_mode.h"
#include "framework/ops/autocast.h"
#include "framework/tensor/factories.h"

namespace tandem::autograd {
namespace {

thread_local std::vector<std::function<void()>>* callbacks = nullptr;

// A reachable node's state during one pass: how many of its consumers have not run yet, whether
// it is in the ready queue, and the gradients gathered for its inputs so far.
struct NodeState {
  Node* node = nullptr;  // null: a free slot
  int dependencies = 0;
  bool queued = false;
  TensorList inputs;
};

// Node* -> NodeState by open addressing (linear probing, at most half full). clear() keeps the
// slots, so a graph of the same size needs no allocation the next time.
class NodeTable {
 public:
  // The node's state, and whether it was just added. The reference is valid until the next
  // insertion.
  std::pair<NodeState*, bool> insert(Node* node) {
    if (2 * (used_ + 1) > slots_.size()) grow();
    NodeState& slot = probe(node);
    if (slot.node == node) return {&slot, false};
    slot.node = node;
    ++used_;
    return {&slot, true};
  }
  NodeState& at(Node* node) {
    NodeState& slot = probe(node);
    TANDEM_CHECK(slot.node == node, "autograd engine: a node outside the graph it walked");
    return slot;
  }
  void clear() {
    for (NodeState& slot : slots_) {
      if (!slot.node) continue;
      slot.node = nullptr;
      slot.dependencies = 0;
      slot.queued = false;
      slot.inputs.clear();  // the gradients go now, not at the next pass
    }
    used_ = 0;
  }

 private:
  NodeState& probe(Node* node) {
    const size_t mask = slots_.size() - 1;
    // Fibonacci hashing of the address (nodes are at least 16-byte aligned).
    size_t i = ((reinterpret_cast<uintptr_t>(node) >> 4) * 0x9E3779B97F4A7C15ull >> 20) & mask;
    while (slots_[i].node != nullptr && slots_[i].node != node) i = (i + 1) & mask;
    return slots_[i];
  }
  void grow() {
    std::vector<NodeState> old = std::move(slots_);
    slots_ = std::vector<NodeState>(std::max<size_t>(64, 2 * old.size()));
    for (NodeState& state : old)
      if (state.node) probe(state.node) = std::move(state);
  }
  std::vector<NodeState> slots_;
  size_t used_ = 0;
};

struct LaterFirst {
  bool operator()(const std::shared_ptr<Node>& a, const std::shared_ptr<Node>& b) const {
    return a->sequence_nr() < b->sequence_nr();
  }
};

// What one backward pass needs besides the graph, kept by its thread between passes.
struct EngineScratch {
  NodeTable nodes;
  std::vector<std::shared_ptr<Node>> stack;  // the walk that counts dependencies
  std::vector<std::shared_ptr<Node>> ready;  // a heap ordered by LaterFirst
  std::vector<std::pair<Edge, Tensor>> starts;
  std::vector<std::function<void()>> callbacks;  // queue_callback's, run when the pass ends
};

// The scratch of the innermost running pass on this thread (a hook may start another backward).
class ScratchLease {
 public:
  ScratchLease() {
    if (pool_.size() == depth_) pool_.push_back(std::make_unique<EngineScratch>());
    scratch_ = pool_[depth_++].get();
  }
  ~ScratchLease() {
    scratch_->nodes.clear();
    scratch_->stack.clear();
    scratch_->ready.clear();
    scratch_->starts.clear();
    scratch_->callbacks.clear();
    --depth_;
  }
  EngineScratch& operator*() const { return *scratch_; }

 private:
  static thread_local std::vector<std::unique_ptr<EngineScratch>> pool_;
  static thread_local size_t depth_;
  EngineScratch* scratch_;
};
thread_local std::vector<std::unique_ptr<EngineScratch>> ScratchLease::pool_;
thread_local size_t ScratchLease::depth_ = 0;

void accumulate(TensorList& buffer, uint32_t input_nr, const Tensor& grad) {
  if (buffer.size() <= input_nr) buffer.resize(input_nr + 1);
  Tensor& slot = buffer[input_nr];
  slot = slot.defined() ? slot + grad : grad;
}

// A gradient in the type of the tensor it is for (a float32 gradient reaching a bfloat16
// activation under autocast becomes bfloat16), as PyTorch's engine does.
Tensor cast_to_edge(const Tensor& grad, const Edge& edge) {
  if (grad.dtype() == edge.dtype || !is_floating(grad.dtype()) || !is_floating(edge.dtype))
    return grad;
  return grad.to(edge.dtype);
}

}  // namespace

void queue_callback(std::function<void()> callback) {
  TANDEM_CHECK(callbacks != nullptr, "queue_callback: only valid during a backward pass");
  callbacks->push_back(std::move(callback));
}

void backward(const TensorList& roots, const TensorList& grad_roots, bool retain_graph) {
  TANDEM_CHECK(grad_roots.empty() || grad_roots.size() == roots.size(), "got ", roots.size(),
               " tensors and ", grad_roots.size(), " gradients");
  const ScratchLease lease;
  EngineScratch& scratch = *lease;
  auto& starts = scratch.starts;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& root = roots[i];
    TANDEM_CHECK(root.defined() && root.requires_grad(), "element ", i,
                 " of tensors does not require grad and does not have a grad_fn");
    Tensor grad = grad_roots.empty() ? Tensor() : grad_roots[i];
    if (!grad.defined()) {
      TANDEM_CHECK(root.numel() == 1, "grad can be implicitly created only for scalar outputs");
      grad = ones_like(root);
    }
    TANDEM_CHECK(grad.sizes() == root.sizes(), "Mismatch in shape: grad_output[", i,
                 "] has a shape of ", torch_size_str(grad.sizes()), " and output[", i,
                 "] has a shape of ", torch_size_str(root.sizes()), ".");
    // As PyTorch's validate_outputs, the gradient takes the root's dtype.
    if (grad.dtype() != root.dtype()) grad = grad.to(root.dtype());
    starts.emplace_back(gradient_edge(root), grad.detach());
  }

  // Count, for every reachable node, how many edges lead into it.
  NodeTable& nodes = scratch.nodes;
  auto& stack = scratch.stack;
  for (const auto& [edge, grad] : starts)
    if (nodes.insert(edge.fn.get()).second) stack.push_back(edge.fn);
  while (!stack.empty()) {
    const std::shared_ptr<Node> node = std::move(stack.back());
    stack.pop_back();
    for (const auto& next : node->next_edges()) {
      if (!next.valid()) continue;
      auto [state, added] = nodes.insert(next.fn.get());
      ++state->dependencies;
      if (added) stack.push_back(next.fn);
    }
  }

  auto& ready = scratch.ready;
  const auto push_ready = [&](const std::shared_ptr<Node>& node) {
    ready.push_back(node);
    std::push_heap(ready.begin(), ready.end(), LaterFirst{});
  };
  for (const auto& [edge, grad] : starts)
    accumulate(nodes.at(edge.fn.get()).inputs, edge.input_nr, grad);
  for (const auto& [edge, grad] : starts) {
    NodeState& state = nodes.at(edge.fn.get());
    if (state.dependencies == 0 && !state.queued) {
      state.queued = true;
      push_ready(edge.fn);
    }
  }

  auto& pending_callbacks = scratch.callbacks;
  auto* outer_callbacks = callbacks;
  callbacks = &pending_callbacks;
  struct Restore {
    std::vector<std::function<void()>>*& slot;
    std::vector<std::function<void()>>* prev;
    ~Restore() { slot = prev; }
  } restore{callbacks, outer_callbacks};

  NoGradGuard no_grad;  // backward formulas are not themselves recorded (no double backward)
  const autocast::Suspend no_autocast;  // backward formulas run in their gradients' types
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), LaterFirst{});
    const std::shared_ptr<Node> node = std::move(ready.back());
    ready.pop_back();
    TensorList inputs = std::move(nodes.at(node.get()).inputs);
    inputs.resize(node->num_inputs());
    node->run_pre_hooks(inputs);
    TensorList outputs = node->apply(std::move(inputs));
    if (!retain_graph) node->release_saved();
    const auto& edges = node->next_edges();
    for (size_t k = 0; k < edges.size(); ++k) {
      const Edge& edge = edges[k];
      if (!edge.valid()) continue;
      NodeState& next = nodes.at(edge.fn.get());
      if (k < outputs.size() && outputs[k].defined())
        accumulate(next.inputs, edge.input_nr, cast_to_edge(outputs[k], edge));
      if (--next.dependencies == 0) push_ready(edge.fn);
    }
  }
  // By index, each taken out first: a callback may queue another, which grows the list.
  for (size_t i = 0; i < pending_callbacks.size(); ++i) {
    const std::function<void()> callback = std::move(pending_callbacks[i]);
    callback();
  }
}

}  // namespace tandem::autograd
