// From tensors to the kernel table's descriptors (kernels/kernel_table.h): the only place where
// framework code turns a Tensor into pointers. Ops check shapes, dtypes and devices, allocate
// outputs with x.options(), then call a kernel family with these.
//
//   kernels::softmax_forward(kernel_context(x), slab, log, buffer(x), buffer(out));
#pragma once

#include <initializer_list>

#include "framework/tensor/tensor.h"
#include "kernels/common/kernel_params.h"
#include "kernels/device/context.h"
#include "kernels/dispatch.h"

namespace tandem {

// The device context (and current stream) for a kernel on `t`'s device.
inline kernels::KernelContext kernel_context(const Tensor& t) {
  return kernels::context_for(t.device());
}

// A contiguous tensor's memory (checked); an undefined tensor is an absent operand.
kernels::Buffer buffer(const Tensor& t);
// `t` as a strided operand over its own sizes.
kernels::StridedBuffer strided(const Tensor& t);
// `t` read as if broadcast to `shape` (stride 0 along broadcast dims).
kernels::StridedBuffer strided_as(const Tensor& t, const Shape& shape);

// The (outer, n, inner) view of a contiguous tensor of `sizes` around `dim` (0-dim: 1 x 1 x 1).
kernels::Slab slab_around(const Shape& sizes, int64_t dim);

// Throws unless every defined tensor is on the same device, naming the op and both devices, as
// PyTorch's "Expected all tensors to be on the same device" error.
void check_same_device(const char* op, std::initializer_list<const Tensor*> tensors);

}  // namespace tandem
