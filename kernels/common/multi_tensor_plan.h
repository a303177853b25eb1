// How the CUDA optimizer updates (kernels/cuda/optim.cu) cover a list of parameters with few
// launches, as PyTorch's multi_tensor_apply: each parameter is cut into chunks of
// kMultiTensorChunk elements, a block updates one chunk, and one launch takes up to
// kMultiTensorMaxTensors parameters and kMultiTensorMaxBlocks chunks (its table travels in the
// kernel's parameters, under their 4 KiB limit). A model's hundred-odd parameters then cost a
// handful of launches instead of one each. Pure host code, tested on the CPU
// (tests/test_cuda_plans.cpp); allocates nothing.
#pragma once

#include <cstdint>

namespace tandem::kernels {

constexpr int kMultiTensorMaxTensors = 36;
constexpr int kMultiTensorMaxBlocks = 320;
constexpr int64_t kMultiTensorChunk = 65536;

// One launch: slot k holds the caller's tensor tensor[k]; block b updates chunk chunk[b] (elements
// [chunk * kMultiTensorChunk, ...) up to the tensor's end) of the tensor in slot slot[b].
struct MultiTensorLaunch {
  int tensors = 0, blocks = 0;
  int tensor[kMultiTensorMaxTensors];
  unsigned char slot[kMultiTensorMaxBlocks];
  int chunk[kMultiTensorMaxBlocks];
};

// Calls launch(const MultiTensorLaunch&) for each launch that covers tensors 0..count-1 in order,
// numel(i) being tensor i's element count; empty tensors are skipped. A tensor whose chunks do
// not fit in one launch continues in slot 0 of the next.
template <typename Numel, typename Launch>
void plan_multi_tensor(int count, Numel&& numel, Launch&& launch) {
  MultiTensorLaunch l;
  for (int i = 0; i < count; ++i) {
    const int64_t n = numel(i);
    if (n == 0) continue;
    const int64_t chunks = (n + kMultiTensorChunk - 1) / kMultiTensorChunk;
    if (l.tensors == kMultiTensorMaxTensors) {
      launch(static_cast<const MultiTensorLaunch&>(l));
      l.tensors = l.blocks = 0;
    }
    l.tensor[l.tensors++] = i;
    for (int64_t c = 0; c < chunks; ++c) {
      if (l.blocks == kMultiTensorMaxBlocks) {
        launch(static_cast<const MultiTensorLaunch&>(l));
        l.tensors = 1;  // this tensor's remaining chunks, in slot 0
        l.tensor[0] = i;
        l.blocks = 0;
      }
      l.slot[l.blocks] = static_cast<unsigned char>(l.tensors - 1);
      l.chunk[l.blocks++] = int(c);
    }
  }
  if (l.blocks > 0) launch(static_cast<const MultiTensorLaunch&>(l));
}

}  // namespace tandem::kernels
