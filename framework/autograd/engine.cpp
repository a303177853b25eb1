// The backward engine: a dependency count per node, then a ready queue ordered by sequence
// number (latest op first; AccumulateGrad first of all). Single-threaded and deterministic.
#include "framework/autograd/engine.h"

#include <queue>
#include <unordered_map>
#include <vector>

#include "framework/autograd/grad_mode.h"
#include "framework/ops/autocast.h"
#include "framework/tensor/factories.h"

namespace tandem::autograd {
namespace {

thread_local std::vector<std::function<void()>>* callbacks = nullptr;

struct LaterFirst {
  bool operator()(const std::shared_ptr<Node>& a, const std::shared_ptr<Node>& b) const {
    return a->sequence_nr() < b->sequence_nr();
  }
};

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
  TANDEM_CHECK(grad_roots.empty() || grad_roots.size() == roots.size(), "backward: got ",
               roots.size(), " tensors but ", grad_roots.size(), " gradients");
  std::vector<std::pair<Edge, Tensor>> starts;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& root = roots[i];
    TANDEM_CHECK(root.defined() && root.requires_grad(), "element ", i,
                 " of tensors does not require grad and does not have a grad_fn");
    Tensor grad = grad_roots.empty() ? Tensor() : grad_roots[i];
    if (!grad.defined()) {
      TANDEM_CHECK(root.numel() == 1, "grad can be implicitly created only for scalar outputs");
      grad = ones_like(root);
    }
    TANDEM_CHECK(grad.sizes() == root.sizes(), "backward: gradient of shape ",
                 shape_str(grad.sizes()), " for a tensor of shape ", shape_str(root.sizes()));
    starts.emplace_back(gradient_edge(root), grad.detach());
  }

  // Count, for every reachable node, how many edges lead into it.
  std::unordered_map<Node*, int> dependencies;
  std::vector<std::shared_ptr<Node>> stack;
  std::unordered_map<Node*, bool> seen;
  for (const auto& [edge, grad] : starts) {
    if (!seen[edge.fn.get()]) {
      seen[edge.fn.get()] = true;
      stack.push_back(edge.fn);
    }
  }
  while (!stack.empty()) {
    auto node = std::move(stack.back());
    stack.pop_back();
    for (const auto& next : node->next_edges()) {
      if (!next.valid()) continue;
      ++dependencies[next.fn.get()];
      if (!seen[next.fn.get()]) {
        seen[next.fn.get()] = true;
        stack.push_back(next.fn);
      }
    }
  }

  std::unordered_map<Node*, TensorList> buffers;
  std::priority_queue<std::shared_ptr<Node>, std::vector<std::shared_ptr<Node>>, LaterFirst> ready;
  for (const auto& [edge, grad] : starts) {
    accumulate(buffers[edge.fn.get()], edge.input_nr, grad);
  }
  std::unordered_map<Node*, bool> queued;
  for (const auto& [edge, grad] : starts) {
    if (dependencies[edge.fn.get()] == 0 && !queued[edge.fn.get()]) {
      queued[edge.fn.get()] = true;
      ready.push(edge.fn);
    }
  }

  std::vector<std::function<void()>> pending_callbacks;
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
    std::shared_ptr<Node> node = ready.top();
    ready.pop();
    TensorList inputs = std::move(buffers[node.get()]);
    buffers.erase(node.get());
    inputs.resize(node->num_inputs());
    node->run_pre_hooks(inputs);
    TensorList outputs = node->apply(std::move(inputs));
    if (!retain_graph) node->release_saved();
    const auto& edges = node->next_edges();
    for (size_t k = 0; k < edges.size(); ++k) {
      const Edge& edge = edges[k];
      if (!edge.valid()) continue;
      if (k < outputs.size() && outputs[k].defined())
        accumulate(buffers[edge.fn.get()], edge.input_nr, cast_to_edge(outputs[k], edge));
      if (--dependencies[edge.fn.get()] == 0) ready.push(edge.fn);
    }
  }
  for (auto& cb : pending_callbacks) cb();
}

}  // namespace tandem::autograd
