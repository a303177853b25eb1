// Per-thread scratch memory for kernels that need temporary buffers (im2col columns, oneDNN's
// blocked operand copies and scratchpad): each thread has a few buffers that only grow, so a
// training step's kernels reuse them instead of allocating on every call. 64-byte aligned
// (oneDNN's jit kernels read whole cache lines). Contents are not preserved between calls, and
// a kernel must not call another kernel that uses the same slot while it holds one.
#pragma once

#include <cstddef>

namespace tandem::kernels::cpu {

constexpr int kScratchSlots = 4;

// At least `bytes` of the calling thread's scratch buffer `slot` (0 <= slot < kScratchSlots).
void* thread_scratch(int slot, size_t bytes);

template <typename T>
T* thread_scratch(int slot, size_t count) {
  return static_cast<T*>(thread_scratch(slot, count * sizeof(T)));
}

}  // namespace tandem::kernels::cpu
