// CUDA optimizer updates over a list of contiguous parameters, a block per chunk of a parameter
// and a few launches for the whole list (kernels/common/multi_tensor_plan.h), applying the
// per-element updates the CPU kernels apply (kernels/common/optim_functors.h); and the loss
// scaler's unscale (kernels/common/amp_functors.h).
#include <cuda_runtime.h>

#include <array>
#include <span>

#include "kernels/common/amp_functors.h"
#include "kernels/common/multi_tensor_plan.h"
#include "kernels/common/optim_functors.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/kernel_table.h"

namespace tandem::kernels::cuda {
namespace {

// A launch's table (kernels/common/multi_tensor_plan.h) with Depth pointers per tensor slot
// (parameter, gradient, state buffers), passed by value: 3.3 KiB at depth 5, under the 4 KiB a
// kernel's parameters may take.
template <int Depth>
struct TensorTable {
  void* ptr[Depth][kMultiTensorMaxTensors];
  int64_t n[kMultiTensorMaxTensors];
  unsigned char slot[kMultiTensorMaxBlocks];
  int chunk[kMultiTensorMaxBlocks];
};
static_assert(sizeof(TensorTable<5>) + sizeof(AdamParams) <= 4000, "kernel parameters over 4 KiB");

// Block b's chunk: the slot and the element range [begin, end) of that slot's tensor.
template <int Depth>
struct BlockChunk {
  int slot;
  int64_t begin, end;
  __device__ explicit BlockChunk(const TensorTable<Depth>& t) : slot(t.slot[blockIdx.x]) {
    begin = int64_t(t.chunk[blockIdx.x]) * kMultiTensorChunk;
    end = begin + kMultiTensorChunk < t.n[slot] ? begin + kMultiTensorChunk : t.n[slot];
  }
};

template <typename T>
__global__ void sgd_kernel(TensorTable<3> t, SgdParams s) {
  const BlockChunk<3> c(t);
  T* p = static_cast<T*>(t.ptr[0][c.slot]);
  const T* g = static_cast<const T*>(t.ptr[1][c.slot]);
  T* buf = static_cast<T*>(t.ptr[2][c.slot]);
  for (int64_t i = c.begin + threadIdx.x; i < c.end; i += blockDim.x)
    sgd_update<T>(p[i], g[i], buf ? buf + i : nullptr, s);
}

template <typename T>
__global__ void adam_kernel(TensorTable<5> t, AdamParams a) {
  const BlockChunk<5> c(t);
  T* p = static_cast<T*>(t.ptr[0][c.slot]);
  const T* g = static_cast<const T*>(t.ptr[1][c.slot]);
  T* m = static_cast<T*>(t.ptr[2][c.slot]);
  T* v = static_cast<T*>(t.ptr[3][c.slot]);
  T* vmax = static_cast<T*>(t.ptr[4][c.slot]);
  for (int64_t i = c.begin + threadIdx.x; i < c.end; i += blockDim.x)
    adam_update<T>(p[i], g[i], m[i], v[i], vmax ? vmax + i : nullptr, a);
}

// Runs kernel(blocks, table) over `list` in as few launches as the plan allows; an entry's
// buffers() are its Depth pointers, in the kernel's order.
template <int Depth, typename Entry, typename Kernel>
void launch_multi_tensor(std::span<const Entry> list, Kernel&& kernel) {
  plan_multi_tensor(
      int(list.size()), [&](int i) { return list[size_t(i)].n; },
      [&](const MultiTensorLaunch& l) {
        TensorTable<Depth> table{};
        for (int k = 0; k < l.tensors; ++k) {
          Entry tensor = list[size_t(l.tensor[k])];
          const auto b = tensor.buffers();
          static_assert(std::tuple_size_v<decltype(b)> == Depth, "a table row per buffer");
          for (int d = 0; d < Depth; ++d) table.ptr[d][k] = b[size_t(d)]->data;
          table.n[k] = tensor.n;
        }
        for (int b = 0; b < l.blocks; ++b) {
          table.slot[b] = l.slot[b];
          table.chunk[b] = l.chunk[b];
        }
        kernel(unsigned(l.blocks), table);
        TANDEM_CUDA_CHECK(cudaGetLastError());
      });
}

// The list's one dtype (the kernel table's contract: its entries' first buffer's), checked.
template <typename Entry>
DType list_dtype(std::span<const Entry> list, const char* op) {
  auto dtype_of = [](Entry x) { return x.buffers()[0]->dtype; };
  const DType t = list.empty() ? DType::Float32 : dtype_of(list[0]);
  for (const Entry& x : list)
    TANDEM_CHECK(dtype_of(x) == t, op, ": one call takes tensors of one dtype, got ", dtype_name(t),
                 " and ", dtype_name(dtype_of(x)));
  return t;
}

template <typename T>
__global__ void unscale_kernel(TensorTable<2> t, float inv_scale) {
  const BlockChunk<2> c(t);
  T* g = static_cast<T*>(t.ptr[0][c.slot]);
  bool found = false;
  for (int64_t i = c.begin + threadIdx.x; i < c.end; i += blockDim.x)
    found |= unscale_element<T>(g[i], inv_scale);
  // Every thread that saw inf/NaN writes the same 1: a benign race, as PyTorch's kernel.
  if (found) *static_cast<float*>(t.ptr[1][c.slot]) = 1.0f;
}

void sgd_step_cuda(const KernelContext& ctx, const SgdParams& s, std::span<const SgdTensor> list) {
  dispatch_cuda_floating(list_dtype(list, "SGD"), "SGD", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_multi_tensor<3>(list, [&](unsigned blocks, const TensorTable<3>& table) {
      TANDEM_LAUNCH(blocks, kThreads, 0, stream_of(ctx), sgd_kernel<T>)(table, s);
    });
  });
}

void adam_step_cuda(const KernelContext& ctx, const AdamParams& a,
                    std::span<const AdamTensor> list) {
  dispatch_cuda_floating(list_dtype(list, "Adam"), "Adam", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_multi_tensor<5>(list, [&](unsigned blocks, const TensorTable<5>& table) {
      TANDEM_LAUNCH(blocks, kThreads, 0, stream_of(ctx), adam_kernel<T>)(table, a);
    });
  });
}

void unscale_and_check_cuda(const KernelContext& ctx, const UnscaleParams& u,
                            std::span<const UnscaleTensor> list) {
  dispatch_cuda_floating(list_dtype(list, "unscale"), "unscale", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_multi_tensor<2>(list, [&](unsigned blocks, const TensorTable<2>& table) {
      TANDEM_LAUNCH(blocks, kThreads, 0, stream_of(ctx), unscale_kernel<T>)(table, u.inv_scale);
    });
  });
}

}  // namespace

TANDEM_REGISTER_CUDA_KERNEL(sgd_step, sgd_step_cuda);
TANDEM_REGISTER_CUDA_KERNEL(unscale_and_check, unscale_and_check_cuda);
TANDEM_REGISTER_CUDA_KERNEL(adam_step, adam_step_cuda);

}  // namespace tandem::kernels::cuda
