// What every CUDA kernel file shares: the launch geometry (kThreads, blocks_for, the thread's
// linear index), the call's stream, the float32/float64 dispatch of the floating kernels, and
// Indexer<N>, which maps a linear index over an index space (up to kMaxDims sizes once its
// contiguous dims are merged) to the element offsets of N strided operands (built on the host from
// the kernel table's descriptors and passed to the kernel by value).
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <string>

#include "kernels/common/error.h"
#include "kernels/common/merged_dims.h"
#include "kernels/dispatch.h"

namespace tandem::kernels::cuda {

constexpr int kMaxDims = 8;
constexpr int kThreads = 256;

template <int N>
struct Indexer {
  int ndim;
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];

  // `linear` is below the product of sizes, so the outermost dim's index is what is left after
  // the inner ones: a merged contiguous operand (one dim) costs no division at all.
  __device__ void offsets(int64_t linear, int64_t (&off)[N]) const {
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = ndim - 1; d > 0; --d) {
      const int64_t i = linear % sizes[d];
      linear /= sizes[d];
      for (int k = 0; k < N; ++k) off[k] += i * strides[k][d];
    }
    if (ndim > 0)
      for (int k = 0; k < N; ++k) off[k] += linear * strides[k][0];
  }
};

// The Indexer of an index space and N operands' strides, its dims merged first
// (kernels/common/merged_dims.h); up to kMaxDims dims remain.
template <int N>
Indexer<N> make_indexer(const Dims& sizes, const Dims* const (&strides)[N]) {
  std::array<const Dims*, N> operands;
  for (int k = 0; k < N; ++k) operands[k] = strides[k];
  const MergedDims<N> m = merge_dims<N>(sizes, operands);
  TANDEM_CHECK(m.sizes.size() <= size_t(kMaxDims), "CUDA kernels take up to ", kMaxDims,
               " dims after merging contiguous ones, got ", m.sizes.size());
  Indexer<N> ix{};
  ix.ndim = int(m.sizes.size());
  for (size_t d = 0; d < m.sizes.size(); ++d) {
    ix.sizes[d] = m.sizes[d];
    for (int k = 0; k < N; ++k) ix.strides[k][d] = m.strides[k][d];
  }
  return ix;
}

inline int64_t numel(const Dims& sizes) {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  return n;
}

inline unsigned blocks_for(int64_t n) { return unsigned((n + kThreads - 1) / kThreads); }

// Blocks for a grid-stride loop over n elements: one per kThreads elements up to 4096 (a few
// waves of the largest GPUs), so each thread's setup (a division or two) is spread over its
// elements.
inline unsigned grid_stride_blocks(int64_t n) {
  constexpr int64_t kMaxBlocks = 4096;
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return unsigned(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

__device__ inline int64_t thread_index() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }

// Kernels are launched with TANDEM_LAUNCH(grid, block, shared_bytes, stream, kernel)(args...),
// which is kernel<<<grid, block, shared_bytes, stream>>>(args...) under nvcc, and take their
// dynamic shared memory from dynamic_shared<T>(): tests/cuda_on_host compiles these files as host
// C++ with its own definitions of both and runs the kernels on the CPU.
#if !defined(TANDEM_CUDA_ON_HOST)
#define TANDEM_LAUNCH(grid, block, shared_bytes, stream, ...) \
  __VA_ARGS__<<<grid, block, shared_bytes, stream>>>

template <typename T>
__device__ T* dynamic_shared() {
  extern __shared__ __align__(16) unsigned char bytes[];
  return reinterpret_cast<T*>(bytes);
}
#endif

inline cudaStream_t stream_of(const KernelContext& ctx) {
  return static_cast<cudaStream_t>(ctx.stream);
}

// fn(type_tag<T>{}) for float32 and float64; other dtypes are an error naming the op.
template <typename Fn>
void dispatch_cuda_floating(DType t, const char* op, Fn&& fn) {
  if (t == DType::Float32) return fn(type_tag<float>{});
  if (t == DType::Float64) return fn(type_tag<double>{});
  throw Error(std::string(op) + ": the CUDA kernel takes float32 or float64, got " + dtype_name(t));
}

}  // namespace tandem::kernels::cuda
