// Runs backward: counts each node's consumers, then executes nodes as they become ready
// (all consumers done), highest sequence number first, so gradients flow in reverse order of
// the forward and leaf gradients accumulate as early as possible (which lets DDP overlap).
#pragma once

#include "framework/autograd/node.h"

namespace tandem::autograd {

// roots[i] receives grad_roots[i] (undefined means ones for a one-element root, otherwise an
// error as in PyTorch: "grad can be implicitly created only for scalar outputs").
void backward(const TensorList& roots, const TensorList& grad_roots = {}, bool retain_graph = false);

// Called once after a backward pass has run all its nodes (DDP finalises its buckets here).
// Callbacks are cleared when the pass ends, as torch's queue_callback.
void queue_callback(std::function<void()> callback);

}  // namespace tandem::autograd
