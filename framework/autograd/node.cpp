// Autograd graph pieces: saved tensors with version checks, nodes, gradient accumulation into
// leaves, and `record`, which every differentiable op calls to attach its backward.
#include "framework/autograd/node.h"

#include <atomic>

#include "framework/autograd/grad_mode.h"
#include "framework/ops/scalar_type.h"

namespace tandem::autograd {
namespace {
std::atomic<uint64_t> next_sequence_nr{0};
std::atomic<int> hook_counter{0};

std::string describe(const Tensor& t) {
  return "[" + ops_detail::legacy_type_name(t) + " " + shape_str(t.sizes()) + "]";
}

// A gradient hook may replace the gradient, but not with another type, device or shape: the
// rest of the backward pass was built for the original (PyTorch's check_variable_result).
void check_hook_result(int handle, const Tensor& original, const Tensor& result) {
  const std::string hook = "hook " + std::to_string(handle);
  if (original.dtype() != result.dtype() || original.device() != result.device())
    throw Error(hook + " has changed the type of value (was " +
                    ops_detail::legacy_type_name(original) + " got " +
                    ops_detail::legacy_type_name(result) + ")",
                "return a gradient of the dtype and device the hook was given");
  if (original.sizes() != result.sizes())
    throw Error(hook + " has changed the size of value (was " + shape_str(original.sizes()) +
                    " got " + shape_str(result.sizes()) + ")",
                "return a gradient of the shape the hook was given");
}
}  // namespace

int next_hook_handle() { return ++hook_counter; }

SavedTensor::SavedTensor(const Tensor& t) : was_defined_(t.defined()) {
  if (!t.defined()) return;
  data_ = t.detach();  // alias without history: no cycle output -> grad_fn -> saved output
  version_ = t.version();
}

Tensor SavedTensor::unpack(const Node& owner) const {
  if (released_)
    throw Error(
        "Trying to backward through the graph a second time (or directly access saved tensors "
        "after they have already been freed). Saved intermediate values of the graph are freed "
        "when you call .backward(). Specify retain_graph=True if you need to backward through "
        "the graph a second time or if you need to access saved tensors after calling backward.",
        "pass retain_graph=true to the first backward()");
  if (!was_defined_) return {};
  if (data_.version() != version_)
    throw Error(
        "one of the variables needed for gradient computation has been modified by an "
        "inplace operation: " +
            describe(data_) + ", saved by " + owner.name() + ", is at version " +
            std::to_string(data_.version()) + "; expected version " + std::to_string(version_) +
            " instead.",
        "use an out-of-place op (e.g. x = x + y instead of x.add_(y)) before backward");
  return data_;
}

Node::Node(uint32_t num_inputs) : sequence_nr_(next_sequence_nr++), num_inputs_(num_inputs) {}

int Node::add_pre_hook(uint32_t input_nr, Tensor::GradHook hook) {
  const int handle = next_hook_handle();
  pre_hooks_.emplace(handle, std::make_pair(input_nr, std::move(hook)));
  return handle;
}

void Node::remove_pre_hook(int handle) { pre_hooks_.erase(handle); }

void Node::run_pre_hooks(TensorList& grads) const {
  for (const auto& [handle, entry] : pre_hooks_) {
    const auto& [input_nr, hook] = entry;
    if (input_nr >= grads.size() || !grads[input_nr].defined()) continue;
    Tensor replaced = hook(grads[input_nr]);
    if (!replaced.defined()) continue;
    check_hook_result(handle, grads[input_nr], replaced);
    grads[input_nr] = replaced;
  }
}

FunctionNode::FunctionNode(const char* name, uint32_t num_inputs, SavedTensorList saved,
                           BackwardFn fn)
    : Node(num_inputs), name_(name), saved_(std::move(saved)), fn_(std::move(fn)) {}

TensorList FunctionNode::apply(TensorList&& grads) {
  TensorList saved;
  saved.reserve(saved_.size());
  for (const auto& s : saved_) saved.push_back(s.unpack(*this));
  bool any = false;
  for (const auto& g : grads) any = any || g.defined();
  if (!any) return TensorList(next_edges().size());
  // Multi-output ops may see undefined entries for outputs that got no gradient.
  return fn_(grads, saved);
}

void FunctionNode::release_saved() {
  for (auto& s : saved_) s.release();
}

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> variable)
    : Node(1), variable_(variable) {
  sequence_nr_ = UINT64_MAX;  // run as soon as ready, as PyTorch does for AccumulateGrad
}

TensorList AccumulateGrad::apply(TensorList&& grads) {
  auto var_impl = variable_.lock();
  if (!var_impl || grads.empty() || !grads[0].defined()) return {};
  Tensor var(var_impl);
  AutogradMeta& meta = autograd_meta(var);
  Tensor g = grads[0];
  for (const auto& [handle, hook] : meta.leaf_hooks) {
    Tensor replaced = hook(g);
    if (!replaced.defined()) continue;
    check_hook_result(handle, g, replaced);
    g = replaced;
  }
  // requires_grad cleared after the forward (requires_grad_(false), detach_()): no .grad, as
  // PyTorch's AccumulateGrad.
  if (!meta.requires_grad) return {};
  TANDEM_CHECK(g.sizes() == var.sizes(), "AccumulateGrad: gradient of shape ", shape_str(g.sizes()),
               " for a tensor of shape ", shape_str(var.sizes()));
  NoGradGuard no_grad;
  if (!meta.grad.defined()) {
    // Steal the incoming buffer when nobody else holds it; otherwise copy (it may alias).
    const bool sole_owner = g.impl_ptr().use_count() <= 2 && g.storage().use_count() == 1 &&
                            g.is_contiguous() && g.dtype() == var.dtype();
    meta.grad = sole_owner ? g.detach() : g.to(var.dtype()).clone();
  } else {
    meta.grad.add_(g);  // in place: keeps views into DDP buckets alive
  }
  for (const auto& [handle, hook] : meta.post_accumulate_hooks) hook(var);
  return {};
}

AutogradMeta& autograd_meta(const Tensor& t) {
  TANDEM_CHECK(t.defined(), "autograd on an undefined tensor");
  auto& p = t.impl()->autograd;
  if (!p) p = std::make_unique<AutogradMeta>();
  return *p;
}

Edge gradient_edge(const Tensor& t) {
  AutogradMeta& meta = autograd_meta(t);
  if (meta.grad_fn) return Edge{meta.grad_fn, meta.output_nr, t.dtype()};
  if (!meta.requires_grad) return Edge{};
  auto acc = meta.grad_accumulator.lock();
  if (!acc) {
    acc = std::allocate_shared<AccumulateGrad>(PoolAllocator<AccumulateGrad>(), t.impl_ptr());
    meta.grad_accumulator = acc;
  }
  return Edge{acc, 0, t.dtype()};
}

bool any_requires_grad(const TensorList& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

std::shared_ptr<Node> record(const char* name, const TensorList& inputs, const TensorList& outputs,
                             const TensorList& saved, BackwardFn fn) {
  if (!any_requires_grad(inputs)) return nullptr;
  EdgeList edges;
  edges.reserve(inputs.size());
  for (const auto& t : inputs)
    edges.push_back(t.defined() && t.requires_grad() ? gradient_edge(t) : Edge{});
  SavedTensorList saved_tensors;
  saved_tensors.reserve(saved.size());
  for (const auto& t : saved) saved_tensors.emplace_back(t);
  auto node = std::allocate_shared<FunctionNode>(PoolAllocator<FunctionNode>(), name,
                                                 uint32_t(outputs.size()), std::move(saved_tensors),
                                                 std::move(fn));
  node->set_next_edges(std::move(edges));
  for (size_t i = 0; i < outputs.size(); ++i) {
    AutogradMeta& meta = autograd_meta(outputs[i]);
    meta.grad_fn = node;
    meta.output_nr = uint32_t(i);
  }
  return node;
}

}  // namespace tandem::autograd
